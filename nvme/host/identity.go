package host

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"sync"

	"github.com/complchain/complchain/nvme"
)

// Identity is how a host names itself in Connect data: its host NQN
// (HOSTNQN) and host identifier (HOSTID), and where each came from, for
// people ("given", "/etc/nvme/hostnqn", "the host ID", ...).
type Identity struct {
	NQN     string
	ID      [16]byte
	NQNFrom string
	IDFrom  string
}

// UUIDNQNPrefix is the start of a host NQN made from a UUID, as nvme-cli
// makes them: "nqn.2014-08.org.nvmexpress:uuid:" then the UUID in text.
const UUIDNQNPrefix = "nqn.2014-08.org.nvmexpress:uuid:"

// The files LoadIdentity reads, relative to the root of the file system
// it is given (os.DirFS("/") for the machine's own).
const (
	HostNQNFile        = "etc/nvme/hostnqn"
	HostIDFile         = "etc/nvme/hostid"
	ProductUUIDFile    = "sys/class/dmi/id/product_uuid"
	DeviceTreeUUIDFile = "proc/device-tree/ibm,partition-uuid"
	MachineIDFile      = "etc/machine-id"
)

// MaxIdentityFile is the most bytes LoadIdentity reads from one file; a
// longer file is refused (a host NQN has at most 223 bytes).
const MaxIdentityFile = 4096

// ErrInvalidIdentity is wrapped by LoadIdentity's errors about a host NQN
// or host ID that is not valid, given or read.
var ErrInvalidIdentity = errors.New("invalid host identity")

// hostNQNAppID is the application ID libnvme derives a host NQN with
// from the systemd machine ID (NVME_HOSTNQN_ID, given to
// sd_id128_get_machine_app_specific).
var hostNQNAppID = [16]byte{0xc7, 0xf4, 0x61, 0x81, 0x12, 0xbe, 0x49, 0x32, 0x8c, 0x83, 0x10, 0x6f, 0x9d, 0xdd, 0xd8, 0x6b}

// LoadIdentity returns the host identity to connect with, following
// nvme-cli (libnvme's nvme_host_get_ids and nvmf_hostnqn_generate):
//
//   - nqn and id, when not empty, are used as given;
//   - otherwise the host ID is read from /etc/nvme/hostid and the host
//     NQN from /etc/nvme/hostnqn: the first line of each, trimmed of
//     white space and NULs; an empty or missing file counts as absent;
//   - a missing host ID is the UUID of a host NQN of the form
//     "nqn.2014-08.org.nvmexpress:uuid:<UUID>";
//   - failing that, it is the machine's: the DMI product UUID
//     (/sys/class/dmi/id/product_uuid, readable by root only, so a
//     process without root goes on to the next sources), or the device
//     tree's ibm,partition-uuid, or a UUID derived from /etc/machine-id as
//     systemd's sd_id128_get_machine_app_specific does with libnvme's
//     application ID (HMAC-SHA256 keyed by the machine ID, truncated to a
//     version 4 UUID);
//   - with none of these, a random UUID, the same for the whole process;
//   - a missing host NQN is UUIDNQNPrefix followed by the host ID.
//
// A host NQN must have at most nvme.MaxNQNLen (223) bytes of printable
// ASCII and start with "nqn."; a host ID must be a UUID in text
// (8-4-4-4-12 hexadecimal digits), not all zeros. Invalid values, given
// or read from /etc/nvme, are errors wrapping ErrInvalidIdentity that
// name the file without quoting its content; invalid machine sources are
// skipped. Each file is read only if it is a regular file of at most
// MaxIdentityFile bytes. A host ID and a host NQN that name different UUIDs are kept as
// they are, as nvme-cli does.
func LoadIdentity(fsys fs.FS, nqn, id string) (Identity, error) {
	idn := Identity{NQN: nqn, NQNFrom: "given", IDFrom: "given"}
	haveID := id != ""
	if haveID {
		var err error
		if idn.ID, err = parseHostID(id); err != nil {
			return Identity{}, fmt.Errorf("%w: host ID: %w", ErrInvalidIdentity, err)
		}
	}
	if nqn != "" {
		if err := checkNQN(nqn); err != nil {
			return Identity{}, fmt.Errorf("%w: host NQN: %w", ErrInvalidIdentity, err)
		}
	}
	if !haveID {
		s, err := readIdentityFile(fsys, HostIDFile)
		if err != nil {
			return Identity{}, err
		}
		if s != "" {
			if idn.ID, err = parseHostID(s); err != nil {
				return Identity{}, fmt.Errorf("%w: /%s: %w", ErrInvalidIdentity, HostIDFile, err)
			}
			haveID, idn.IDFrom = true, "/"+HostIDFile
		}
	}
	if idn.NQN == "" {
		s, err := readIdentityFile(fsys, HostNQNFile)
		if err != nil {
			return Identity{}, err
		}
		if s != "" {
			if err := checkNQN(s); err != nil {
				return Identity{}, fmt.Errorf("%w: /%s: %w", ErrInvalidIdentity, HostNQNFile, err)
			}
			idn.NQN, idn.NQNFrom = s, "/"+HostNQNFile
		}
	}
	if !haveID && idn.NQN != "" {
		if u, ok := nqnUUID(idn.NQN); ok {
			idn.ID, idn.IDFrom, haveID = u, "the host NQN", true
		}
	}
	if !haveID {
		idn.ID, idn.IDFrom = machineID(fsys)
	}
	if idn.NQN == "" {
		idn.NQN, idn.NQNFrom = string(nvme.AppendUUID([]byte(UUIDNQNPrefix), idn.ID)), "the host ID"
	}
	return idn, nil
}

// machineID returns the machine's UUID and where it came from, or the
// process's random one.
func machineID(fsys fs.FS) ([16]byte, string) {
	for _, name := range [...]string{ProductUUIDFile, DeviceTreeUUIDFile} {
		if s, err := readIdentityFile(fsys, name); err == nil && s != "" {
			if u, err := parseHostID(s); err == nil && u != allOnes {
				return u, "/" + name
			}
		}
	}
	if s, err := readIdentityFile(fsys, MachineIDFile); err == nil && len(s) == 32 {
		var mid [16]byte
		if _, err := hex.Decode(mid[:], []byte(s)); err == nil && mid != ([16]byte{}) {
			return appSpecificID(mid, hostNQNAppID), "/" + MachineIDFile
		}
	}
	return processID(), "random, for this process only: no /" + HostIDFile + ", /" + HostNQNFile + ", DMI product UUID or /" + MachineIDFile
}

// allOnes is the SMBIOS system UUID of a machine that has none.
var allOnes = [16]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// appSpecificID derives an application-specific ID from a machine ID as
// systemd's sd_id128_get_app_specific does: HMAC-SHA256 keyed with the
// machine ID over the application ID, its first 16 bytes made a version
// 4, variant 1 UUID.
func appSpecificID(machine, app [16]byte) [16]byte {
	m := hmac.New(sha256.New, machine[:])
	m.Write(app[:])
	var u [16]byte
	copy(u[:], m.Sum(nil))
	return uuidV4(u)
}

// uuidV4 sets the version (4) and variant (10b) bits of u.
func uuidV4(u [16]byte) [16]byte {
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return u
}

// randomHostID returns a new random host identifier, a version 4 UUID.
// Connect, when Config.HostID is zero and HostNQN names no UUID, uses one
// drawn once for the whole process, so that every controller it connects
// sees the same host, as with Linux; LoadIdentity gives the machine's.
func randomHostID() [16]byte {
	var id [16]byte
	rand.Read(id[:])
	return uuidV4(id)
}

// processID is a random version 4 UUID, the same for the whole process.
var processID = sync.OnceValue(randomHostID)

// parseHostID parses a host ID: a UUID in text, not all zeros.
func parseHostID(s string) ([16]byte, error) {
	u, err := nvme.ParseUUID(s)
	if err != nil {
		return u, err
	}
	if u == ([16]byte{}) {
		return u, errors.New("the nil UUID")
	}
	return u, nil
}

// checkNQN checks a host NQN: at most nvme.MaxNQNLen bytes of printable
// ASCII starting with "nqn.".
func checkNQN(s string) error {
	if len(s) > nvme.MaxNQNLen {
		return fmt.Errorf("%d bytes, more than %d", len(s), nvme.MaxNQNLen)
	}
	for i := range len(s) {
		if s[i] < 0x20 || s[i] > 0x7e {
			return fmt.Errorf("byte %#02x at offset %d is not printable ASCII", s[i], i)
		}
	}
	if !strings.HasPrefix(s, "nqn.") {
		return errors.New(`does not start with "nqn."`)
	}
	return nil
}

// nqnUUID returns the UUID of a host NQN of the form
// "nqn.2014-08.org.nvmexpress:uuid:<UUID>", as libnvme's
// nvme_hostid_from_hostnqn does.
func nqnUUID(nqn string) ([16]byte, bool) {
	s, ok := strings.CutPrefix(nqn, UUIDNQNPrefix)
	if !ok {
		return [16]byte{}, false
	}
	u, err := parseHostID(s)
	return u, err == nil
}

// readIdentityFile returns the first line of the file name in fsys,
// trimmed of white space and NULs, as libnvme reads it, or "" if it does
// not exist. It refuses what
// is not a regular file (a FIFO would block the read) and a file longer
// than MaxIdentityFile.
func readIdentityFile(fsys fs.FS, name string) (string, error) {
	st, err := fs.Stat(fsys, name)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("host identity: %w", err)
	}
	if !st.Mode().IsRegular() {
		return "", fmt.Errorf("%w: /%s is not a regular file", ErrInvalidIdentity, name)
	}
	f, err := fsys.Open(name)
	if err != nil {
		return "", fmt.Errorf("host identity: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxIdentityFile+1))
	if err != nil {
		return "", fmt.Errorf("host identity: read /%s: %w", name, err)
	}
	if len(b) > MaxIdentityFile {
		return "", fmt.Errorf("%w: /%s is longer than %d bytes", ErrInvalidIdentity, name, MaxIdentityFile)
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	return string(bytes.Trim(line, " \t\r\x00")), nil
}
