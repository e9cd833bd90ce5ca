package scan

import (
	"encoding/hex"
	"strconv"
	"strings"

	"github.com/complchain/complchain/internal/udev"
	"github.com/complchain/complchain/nvme"
)

// byID holds what the by-id names of one controller's namespaces share.
type byID struct {
	vid      uint16
	wwidIDs  string // "-<serial hex>-<model hex>-" of the wwid fallback
	plain    string // "nvme-<model>_<serial>" not escaped, or "" if not made
	escaped  string // "nvme-<model>_<serial>" escaped, or "" if no model or serial
	nsidBase string // escaped + "_"
}

func newByID(id *nvme.IdentifyController) *byID {
	b := &byID{vid: id.VID}
	// The fallback wwid: the fields' bytes less trailing spaces and NULs
	// (IdentifyController has already cut them).
	b.wwidIDs = "-" + hex.EncodeToString([]byte(id.SerialNumber)) + "-" + hex.EncodeToString([]byte(id.ModelNumber)) + "-"
	model, serial := udev.Attr(sysfsString(id.ModelNumber)), udev.Attr(sysfsString(id.SerialNumber))
	if model == "" || serial == "" {
		return b
	}
	idSerial := model + "_" + serial // ENV{ID_SERIAL}, before escaping
	if !strings.ContainsRune(idSerial, '/') {
		b.plain = "nvme-" + udev.ReplaceChars(udev.ReplaceWhitespace(idSerial), "/ ")
	}
	esc := udev.ReplaceChars(idSerial, "")
	b.escaped = "nvme-" + esc
	b.nsidBase = b.escaped + "_"
	return b
}

// wwid returns the kernel's wwid attribute of namespace nsid.
func (b *byID) wwid(nsid uint32, ids *nvme.NSIdentifiers) string {
	switch {
	case ids.UUID != [16]byte{}:
		return "uuid." + formatUUID(ids.UUID)
	case ids.NGUID != [16]byte{}:
		return "eui." + hex.EncodeToString(ids.NGUID[:])
	case ids.EUI64 != [8]byte{}:
		return "eui." + hex.EncodeToString(ids.EUI64[:])
	}
	return "nvme." + hexPad(uint32(b.vid), 4) + b.wwidIDs + hexPad(nsid, 8)
}

// links returns the by-id names of namespace nsid, in the order the rules
// add them, each once.
func (b *byID) links(nsid uint32, ids *nvme.NSIdentifiers) []string {
	out := make([]string, 0, 4)
	out = append(out, "nvme-"+b.wwid(nsid, ids))
	if b.escaped == "" {
		return out
	}
	nsidAttr := strconv.Itoa(int(int32(nsid))) // sysfs prints the NSID with "%d"
	if nsidAttr == "1" {
		if b.plain != "" {
			out = append(out, b.plain)
		}
		if b.escaped != b.plain {
			out = append(out, b.escaped)
		}
	}
	return append(out, b.nsidBase+nsidAttr)
}

// WWID returns the wwid attribute Linux gives the block device of
// namespace nsid of the controller id, whose identifiers are ids (zero
// when absent), as the package doc describes: "uuid.…", "eui.…" or
// "nvme.…".
func WWID(id *nvme.IdentifyController, nsid uint32, ids nvme.NSIdentifiers) string {
	return newByID(id).wwid(nsid, &ids)
}

// ByID returns the names systemd v257's udev rules give the block device
// of namespace nsid under /dev/disk/by-id, as the package doc describes:
// the wwid link first, then the model_serial links, each name once.
func ByID(id *nvme.IdentifyController, nsid uint32, ids nvme.NSIdentifiers) []string {
	return newByID(id).links(nsid, &ids)
}

func formatUUID(u [16]byte) string {
	var s [36]byte
	hex.Encode(s[0:8], u[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], u[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], u[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], u[8:10])
	s[23] = '-'
	hex.Encode(s[24:36], u[10:16])
	return string(s[:])
}

// hexPad formats v in lower-case hex, zero padded to digits ("%0*x").
func hexPad(v uint32, digits int) string {
	s := strconv.FormatUint(uint64(v), 16)
	if len(s) < digits {
		s = strings.Repeat("0", digits-len(s)) + s
	}
	return s
}

// sysfsString returns a string attribute as the kernel prints it ("%.*s"
// of the field): up to the first NUL.
func sysfsString(field string) string {
	if i := strings.IndexByte(field, 0); i >= 0 {
		return field[:i]
	}
	return field
}
