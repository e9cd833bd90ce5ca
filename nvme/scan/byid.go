package scan

import (
	"encoding/hex"
	"strconv"
	"strings"

	"github.com/complchain/complchain/internal/udev"
	"github.com/complchain/complchain/nvme"
)

// byID holds what the by-id names of one controller's namespaces share:
// the kernel's part (sysfs attributes from Identify data) and udev's.
type byID struct {
	vid     uint16
	wwidIDs string // "-<serial hex>-<model hex>-" of the wwid fallback
	udev    udevNames
}

func newByID(id *nvme.IdentifyController) *byID {
	return &byID{
		vid: id.VID,
		// The fallback wwid: the fields' bytes less trailing spaces and
		// NULs (IdentifyController has already cut them).
		wwidIDs: "-" + hex.EncodeToString([]byte(id.SerialNumber)) + "-" + hex.EncodeToString([]byte(id.ModelNumber)) + "-",
		// sysfs prints the fields with "%.*s": up to the first NUL.
		udev: newUdevNames(sysfsString(id.ModelNumber), sysfsString(id.SerialNumber)),
	}
}

// wwid returns the kernel's wwid attribute of namespace nsid.
func (b *byID) wwid(nsid uint32, ids *nvme.NSIdentifiers) string {
	var buf [len("uuid.") + 36]byte // the longest of the first three
	switch {
	case ids.UUID != [16]byte{}:
		return string(nvme.AppendUUID(append(buf[:0], "uuid."...), ids.UUID))
	case ids.NGUID != [16]byte{}:
		return string(hex.AppendEncode(append(buf[:0], "eui."...), ids.NGUID[:]))
	case ids.EUI64 != [8]byte{}:
		return string(hex.AppendEncode(append(buf[:0], "eui."...), ids.EUI64[:]))
	}
	return "nvme." + hexPad(uint32(b.vid), 4) + b.wwidIDs + hexPad(nsid, 8)
}

// links returns the by-id names of namespace nsid, whose wwid attribute
// is wwid, in the order the rules add them, each once.
func (b *byID) links(nsid uint32, wwid string) []string {
	// sysfs prints the NSID with "%d".
	return b.udev.links(wwid, strconv.Itoa(int(int32(nsid))))
}

// udevNames holds the model_serial names systemd v257's rules make for
// the namespaces of one controller.
type udevNames struct {
	plain    string // "nvme-<model>_<serial>" not escaped, or "" if not made
	escaped  string // "nvme-<model>_<serial>" escaped, or "" if no model or serial
	nsidBase string // escaped + "_"
}

// newUdevNames works out the names from the model and serial attributes
// as sysfs holds them.
func newUdevNames(model, serial string) udevNames {
	var u udevNames
	model, serial = udev.Attr(model), udev.Attr(serial)
	if model == "" || serial == "" {
		return u
	}
	idSerial := model + "_" + serial // ENV{ID_SERIAL}, before escaping
	if !strings.ContainsRune(idSerial, '/') {
		u.plain = "nvme-" + udev.ReplaceChars(udev.ReplaceWhitespace(idSerial), "/ ")
	}
	u.escaped = "nvme-" + udev.ReplaceChars(idSerial, "")
	u.nsidBase = u.escaped + "_"
	return u
}

// links returns the names of a namespace with the wwid and nsid
// attributes given, in the order the rules add them, each once.
func (u *udevNames) links(wwid, nsid string) []string {
	out := make([]string, 0, 4)
	out = append(out, "nvme-"+udev.ReplaceChars(udev.ReplaceWhitespace(udev.Attr(wwid)), "/ "))
	if u.escaped == "" {
		return out
	}
	nsid = udev.Attr(nsid)
	if nsid == "1" {
		if u.plain != "" {
			out = append(out, u.plain)
		}
		if u.escaped != u.plain {
			out = append(out, u.escaped)
		}
	}
	return append(out, u.nsidBase+nsid)
}

// udevLinks returns the names systemd v257's rules make for a namespace
// block device from its sysfs attributes as the kernel prints them: wwid,
// model, serial and nsid.
func udevLinks(wwid, model, serial, nsid string) []string {
	u := newUdevNames(model, serial)
	return u.links(wwid, nsid)
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
	b := newByID(id)
	return b.links(nsid, b.wwid(nsid, &ids))
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

// names returns what the by-id names of the controller's namespaces
// share, worked out once a scan.
func (r *run) names() *byID {
	r.byIDOnce.Do(func() { r.byID = newByID(r.s.Ctrl.IdentifyController()) })
	return r.byID
}
