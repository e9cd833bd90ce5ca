package scan

import (
	"encoding/hex"
	"strconv"
	"strings"
	"unicode/utf8"

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
	model, serial := udevAttr(sysfsString(id.ModelNumber)), udevAttr(sysfsString(id.SerialNumber))
	if model == "" || serial == "" {
		return b
	}
	idSerial := model + "_" + serial // ENV{ID_SERIAL}, before escaping
	if !strings.ContainsRune(idSerial, '/') {
		b.plain = "nvme-" + udevReplaceChars(udevReplaceWhitespace(idSerial), "/ ")
	}
	esc := udevReplaceChars(idSerial, "")
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

// udevAttr returns $attr{…} of value v as udev substitutes it: trailing
// white space (" \t\n\r") removed, then characters replaced as
// udevReplaceChars with the allow list "/ $%?,".
func udevAttr(v string) string {
	return udevReplaceChars(strings.TrimRight(v, " \t\n\r"), "/ $%?,")
}

// udevReplaceChars is udev's udev_replace_chars: it keeps ASCII letters
// and digits, "#+-.:=@_", the characters of allow, "\x" pairs and valid
// multi-byte UTF-8 sequences; white space becomes ' ' when allow has a
// space, and every other byte becomes '_'.
func udevReplaceChars(s, allow string) string {
	var b []byte // nil until a byte changes
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			strings.IndexByte("#+-.:=@_", c) >= 0, strings.IndexByte(allow, c) >= 0:
			i++
			continue
		case c == '\\' && i+1 < len(s) && s[i+1] == 'x':
			i += 2
			continue
		}
		if n := utf8Valid(s[i:]); n > 1 {
			i += n
			continue
		}
		if b == nil {
			b = []byte(s)
		}
		if isSpace(c) && strings.IndexByte(allow, ' ') >= 0 {
			b[i] = ' '
		} else {
			b[i] = '_'
		}
		i++
	}
	if b == nil {
		return s
	}
	return string(b)
}

// utf8Valid returns the length of the UTF-8 sequence s starts with if
// systemd's utf8_encoded_valid_unichar accepts it, or 0: Go's decoding,
// less the noncharacters U+FDD0…U+FDEF and U+xFFFE, U+xFFFF.
func utf8Valid(s string) int {
	r, n := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError && n <= 1 {
		return 0
	}
	if 0xfdd0 <= r && r <= 0xfdef || r&0xfffe == 0xfffe {
		return 0
	}
	return n
}

// udevReplaceWhitespace is udev's udev_replace_whitespace, applied to each
// substitution in a SYMLINK value: leading " \t\n\r" dropped, each run of
// white space before another character becomes one '_', trailing white
// space dropped.
func udevReplaceWhitespace(s string) string {
	i := 0
	for i < len(s) && strings.IndexByte(" \t\n\r", s[i]) >= 0 {
		i++
	}
	b := make([]byte, 0, len(s)-i)
	space := false
	for ; i < len(s); i++ {
		if isSpace(s[i]) {
			space = true
			continue
		}
		if space {
			b = append(b, '_')
			space = false
		}
		b = append(b, s[i])
	}
	return string(b)
}

// isSpace is C's isspace in the C locale.
func isSpace(c byte) bool {
	return c == ' ' || '\t' <= c && c <= '\r'
}
