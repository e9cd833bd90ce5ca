package scsi

import (
	"encoding/binary"
	"encoding/hex"
	"strings"

	"github.com/complchain/complchain/internal/udev"
)

// inqBufLen is the allocation length scsi_id uses for VPD pages
// (SCSI_INQ_BUFF_LEN): it sees no byte beyond it.
const inqBufLen = 254

// maxSerialLen is scsi_id's MAX_SERIAL_LEN: an identifier whose text
// would be longer is skipped.
const maxSerialLen = 256

// Designator types and code sets of VPD page 83h (SPC-4 7.8.6), in
// scsi_id's search order.
const (
	desigVendor   = 0
	desigT10      = 1
	desigEUI64    = 2
	desigNAA      = 3
	desigTgtGroup = 5
	codeBinary    = 1
	codeASCII     = 2
)

// idSearch is scsi_id's id_search_list: designator type, NAA type (-1:
// any) and code set, best first.
var idSearch = [...]struct {
	typ, naa, code int
}{
	{desigTgtGroup, -1, codeBinary},
	{desigNAA, 6, codeBinary}, {desigNAA, 6, codeASCII},
	{desigNAA, 5, codeBinary}, {desigNAA, 5, codeASCII},
	{desigNAA, -1, codeBinary}, {desigNAA, -1, codeASCII},
	{desigEUI64, -1, codeBinary}, {desigEUI64, -1, codeASCII},
	{desigT10, -1, codeBinary}, {desigT10, -1, codeASCII},
	{desigVendor, -1, codeBinary}, {desigVendor, -1, codeASCII},
}

// ByID returns the names systemd v257's udev rules
// (60-persistent-storage.rules, running scsi_id --export --allowlisted)
// give a SCSI disk under /dev/disk/by-id, from its standard INQUIRY data
// and VPD pages 80h and 83h as the device returned them (nil if it
// returned none):
//
//	scsi-<ID_SERIAL>          the best VPD 83h designator, else "S"+vendor+product+serial of VPD 80h
//	wwn-0x<ID_WWN_WITH_EXTENSION>  when the designator chosen is an NAA
//
// scsi_id takes, from the designators associated with the logical unit,
// the first of: NAA IEEE Registered Extended, NAA IEEE Registered, other
// NAA, EUI-64, T10 vendor ID, vendor specific (binary before ASCII each),
// and writes it as its type's hex digit followed by the identifier (binary
// as lower-case hex; vendor specific with the INQUIRY vendor and product
// before it). ID_SERIAL is that with white space runs made one '_' and
// other unsafe characters '_' (package internal/udev). The wwn name is the
// first 16 digits of an NAA and any further ones.
//
// A device that answers VPD pages 80h and 83h is taken to list them in
// VPD page 00h, as SPC requires. Not modelled: disks of INQUIRY vendor
// "ATA" and USB disks (udev asks ata_id and usb_id instead), and vendor or
// product fields holding a NUL byte, which scsi_id reads past.
func ByID(inquiry, vpd80, vpd83 []byte) []string {
	serial, wwn := scsiID(inquiry, vpd80, vpd83)
	var out []string
	if serial != "" {
		out = append(out, "scsi-"+udev.ReplaceChars(udev.ReplaceWhitespace(serial), ""))
	}
	if wwn != "" {
		// ID_WWN_WITH_EXTENSION is exported as it is; the SYMLINK value
		// goes through udev's white space and character replacement.
		out = append(out, "wwn-"+udev.ReplaceChars(udev.ReplaceWhitespace("0x"+wwn), "/ "))
	}
	return out
}

// scsiID returns scsi_id's serial (before ID_SERIAL's replacement) and
// the NAA digits of ID_WWN_WITH_EXTENSION, either empty if none.
func scsiID(inquiry, vpd80, vpd83 []byte) (serial, wwn string) {
	if s, w, ok := page83ID(inquiry, vpd83); ok {
		return s, w
	}
	return page80ID(inquiry, vpd80), ""
}

// page83ID is scsi_id's do_scsi_page83_inquiry.
func page83ID(inquiry, vpd []byte) (serial, wwn string, ok bool) {
	if len(vpd) < 4 || vpd[1] != 0x83 {
		return "", "", false
	}
	var p [inqBufLen]byte
	copy(p[:], vpd)
	if p[6] != 0 {
		// A SCSI-2 page 83h (EMC Symmetrix): the bytes after the header,
		// as hex, after the NAA digit.
		n := min(int(p[3]), (maxSerialLen-2)/2)
		return "3" + hex.EncodeToString(p[4:4+n]), "", true
	}
	end := int(binary.BigEndian.Uint16(p[2:])) + 3
	for _, want := range idSearch {
		for j := 4; j <= end && j+4 <= len(p); j += int(p[j+3]) + 4 {
			d := p[j:]
			assoc := d[1] & 0x30
			if assoc == 0x10 && want.typ != desigTgtGroup || assoc != 0 && assoc != 0x10 {
				continue
			}
			if int(d[1]&0x0f) != want.typ || want.naa >= 0 && int(d[4]>>4) != want.naa || int(d[0]&0x0f) != want.code {
				continue
			}
			if want.typ == desigTgtGroup {
				continue // scsi_id notes the group and looks on
			}
			n := int(d[3])
			text := 2 + 2*n // the type digit, hex digits, NUL
			if want.code == codeASCII {
				text = 2 + n
			}
			if want.typ == desigVendor {
				text += 24
			}
			if text > maxSerialLen {
				continue
			}
			id := d[4:min(4+n, len(d))]
			prefix := string("0123456789abcdef"[want.typ])
			if want.typ == desigVendor {
				vm, ok := vendorModel(inquiry)
				if !ok {
					continue
				}
				prefix += vm
			}
			var digits string
			if want.code == codeASCII {
				digits, _, _ = strings.Cut(string(id), "\x00")
			} else {
				digits = hex.EncodeToString(id)
			}
			if want.typ == desigNAA {
				wwn = digits
				if len(wwn) > 32 {
					wwn = wwn[:32] // 16 digits and an extension of at most 16
				}
			}
			return prefix + digits, wwn, true
		}
	}
	return "", "", false
}

// page80ID is scsi_id's do_scsi_page80_inquiry: "S", the INQUIRY vendor
// (8 bytes) and product (16 bytes) as they are, then the serial number.
func page80ID(inquiry, vpd []byte) string {
	if len(vpd) < 4 || vpd[1] != 0x80 {
		return ""
	}
	var p [inqBufLen]byte
	copy(p[:], vpd)
	n := int(p[3])
	if 1+24+n > maxSerialLen {
		return ""
	}
	vm, ok := vendorModel(inquiry)
	if !ok {
		return ""
	}
	s, _, _ := strings.Cut("S"+vm+string(p[4:4+n]), "\x00")
	return s
}

// vendorModel returns the INQUIRY vendor and product fields, 24 bytes, or
// false if they are short or hold a NUL.
func vendorModel(inquiry []byte) (string, bool) {
	if len(inquiry) < 32 {
		return "", false
	}
	vm := string(inquiry[8:32])
	return vm, !strings.Contains(vm, "\x00")
}
