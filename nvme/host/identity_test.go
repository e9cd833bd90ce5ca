package host_test

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/nvme/host"
)

func mustUUID(t *testing.T, s string) [16]byte {
	t.Helper()
	u, err := nvme.ParseUUID(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestLoadIdentity follows nvme-cli's order of sources on file systems
// built for each case; the real /etc is never read.
func TestLoadIdentity(t *testing.T) {
	const (
		fileID    = "7606632c-1966-40e1-95e8-7f72b2825e5c"
		fileNQN   = "nqn.2014-08.org.nvmexpress:uuid:78d3e2bd-d06e-4534-b149-0832aa110cff"
		nqnUUID   = "78d3e2bd-d06e-4534-b149-0832aa110cff"
		dmiUUID   = "4c4c4544-0156-4a10-8134-b7d04f383232"
		machineID = "0123456789abcdef0123456789abcdef"
		// systemd-id128 machine-id --app-specific=c7f4618112be49328c83106f9dddd86b
		// on a machine whose ID is machineID, checked against a second
		// implementation of HMAC-SHA256.
		machineUUID = "b9ab29c5-8029-47ad-8087-adf3ca83bb9a"
	)
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	tests := []struct {
		name            string
		files           fstest.MapFS
		nqn, id         string // given
		wantNQN, wantID string
		nqnFrom, idFrom string
	}{
		{"Files", fstest.MapFS{host.HostNQNFile: file(fileNQN + "\n"), host.HostIDFile: file(fileID + "\n")}, "", "",
			fileNQN, fileID, "/etc/nvme/hostnqn", "/etc/nvme/hostid"},
		{"GivenWinOverFiles", fstest.MapFS{host.HostNQNFile: file(fileNQN), host.HostIDFile: file(fileID)},
			"nqn.2026-01.io.example:host", "123E4567-E89B-12D3-A456-426614174000",
			"nqn.2026-01.io.example:host", "123e4567-e89b-12d3-a456-426614174000", "given", "given"},
		{"GivenNQNOnly", fstest.MapFS{host.HostIDFile: file(fileID)}, "nqn.2026-01.io.example:host", "",
			"nqn.2026-01.io.example:host", fileID, "given", "/etc/nvme/hostid"},
		{"IDFromNQNFile", fstest.MapFS{host.HostNQNFile: file("  " + fileNQN + "\x00\n")}, "", "",
			fileNQN, nqnUUID, "/etc/nvme/hostnqn", "the host NQN"},
		{"FirstLineOnly", fstest.MapFS{host.HostNQNFile: file("nqn.2026-01.io.example:a\r\nnqn.b\n"), host.HostIDFile: file(fileID + "\n# comment\n")}, "", "",
			"nqn.2026-01.io.example:a", fileID, "/etc/nvme/hostnqn", "/etc/nvme/hostid"},
		{"NQNFromIDFile", fstest.MapFS{host.HostIDFile: file(fileID)}, "", "",
			host.UUIDNQNPrefix + fileID, fileID, "the host ID", "/etc/nvme/hostid"},
		{"GivenIDMakesNQN", fstest.MapFS{}, "", fileID,
			host.UUIDNQNPrefix + fileID, fileID, "the host ID", "given"},
		{"EmptyFilesAbsent", fstest.MapFS{host.HostNQNFile: file("\n"), host.HostIDFile: file(""), host.ProductUUIDFile: file(dmiUUID + "\n")}, "", "",
			host.UUIDNQNPrefix + dmiUUID, dmiUUID, "the host ID", "/sys/class/dmi/id/product_uuid"},
		{"NonUUIDNQNTakesMachineID", fstest.MapFS{host.HostNQNFile: file("nqn.2026-01.io.example:host"), host.ProductUUIDFile: file(strings.ToUpper(dmiUUID))}, "", "",
			"nqn.2026-01.io.example:host", dmiUUID, "/etc/nvme/hostnqn", "/sys/class/dmi/id/product_uuid"},
		{"DMI", fstest.MapFS{host.ProductUUIDFile: file(dmiUUID), host.MachineIDFile: file(machineID)}, "", "",
			host.UUIDNQNPrefix + dmiUUID, dmiUUID, "the host ID", "/sys/class/dmi/id/product_uuid"},
		{"DeviceTree", fstest.MapFS{host.DeviceTreeUUIDFile: file(dmiUUID + "\x00"), host.MachineIDFile: file(machineID)}, "", "",
			host.UUIDNQNPrefix + dmiUUID, dmiUUID, "the host ID", "/proc/device-tree/ibm,partition-uuid"},
		{"MachineID", fstest.MapFS{host.MachineIDFile: file(machineID + "\n")}, "", "",
			host.UUIDNQNPrefix + machineUUID, machineUUID, "the host ID", "/etc/machine-id"},
		{"DMIAllOnesSkipped", fstest.MapFS{host.ProductUUIDFile: file("ffffffff-ffff-ffff-ffff-ffffffffffff"), host.MachineIDFile: file(machineID)}, "", "",
			host.UUIDNQNPrefix + machineUUID, machineUUID, "the host ID", "/etc/machine-id"},
		{"DMINilSkipped", fstest.MapFS{host.ProductUUIDFile: file("00000000-0000-0000-0000-000000000000"), host.MachineIDFile: file(machineID)}, "", "",
			host.UUIDNQNPrefix + machineUUID, machineUUID, "the host ID", "/etc/machine-id"},
		{"DMIGarbageSkipped", fstest.MapFS{host.ProductUUIDFile: file("Not Settable"), host.MachineIDFile: file(machineID)}, "", "",
			host.UUIDNQNPrefix + machineUUID, machineUUID, "the host ID", "/etc/machine-id"},
		{"DMIFIFOSkipped", fstest.MapFS{host.ProductUUIDFile: &fstest.MapFile{Mode: fs.ModeNamedPipe}, host.MachineIDFile: file(machineID)}, "", "",
			host.UUIDNQNPrefix + machineUUID, machineUUID, "the host ID", "/etc/machine-id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := host.LoadIdentity(tt.files, tt.nqn, tt.id)
			if err != nil {
				t.Fatal(err)
			}
			want := host.Identity{NQN: tt.wantNQN, ID: mustUUID(t, tt.wantID), NQNFrom: tt.nqnFrom, IDFrom: tt.idFrom}
			if got != want {
				t.Errorf("LoadIdentity = %+v\nwant %+v", got, want)
			}
		})
	}
}

// With no source at all, the identity is random but the same for every
// call in the process, and its host NQN names its host ID.
func TestLoadIdentityFallback(t *testing.T) {
	for _, files := range []fstest.MapFS{{}, {host.MachineIDFile: &fstest.MapFile{Data: []byte("00000000000000000000000000000000")}}, {host.MachineIDFile: &fstest.MapFile{Data: []byte("not hex")}}} {
		a, err := host.LoadIdentity(files, "", "")
		if err != nil {
			t.Fatal(err)
		}
		b, err := host.LoadIdentity(fstest.MapFS{}, "", "")
		if err != nil {
			t.Fatal(err)
		}
		if a != b || a.ID == ([16]byte{}) || a.ID[6]>>4 != 4 || a.ID[8]>>6 != 2 {
			t.Fatalf("fallback identities %+v and %+v, want one version 4 UUID", a, b)
		}
		if a.NQN != string(nvme.AppendUUID([]byte(host.UUIDNQNPrefix), a.ID)) || !strings.HasPrefix(a.IDFrom, "random") {
			t.Fatalf("fallback identity %+v", a)
		}
	}
}

// Invalid values, given or read from /etc/nvme, are errors naming what is
// wrong without quoting the content.
func TestLoadIdentityInvalid(t *testing.T) {
	const id = "7606632c-1966-40e1-95e8-7f72b2825e5c"
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	long := "nqn." + strings.Repeat("x", 220)
	tests := []struct {
		name    string
		files   fstest.MapFS
		nqn, id string
		want    string
	}{
		{"GivenNQNTooLong", fstest.MapFS{}, long, id, "host NQN: 224 bytes, more than 223"},
		{"GivenNQNNoPrefix", fstest.MapFS{}, "iqn.2026-01.io.example:host", id, `host NQN: does not start with "nqn."`},
		{"GivenNQNEscape", fstest.MapFS{}, "nqn.2026-01.io.example:\x1b[2J", id, "host NQN: byte 0x1b at offset 23 is not printable ASCII"},
		{"GivenNQNUTF8", fstest.MapFS{}, "nqn.2026-01.io.example:é", id, "byte 0xc3 at offset 23"},
		{"GivenIDNotUUID", fstest.MapFS{}, "", "7606632c196640e195e87f72b2825e5c", "host ID: nvme: not a UUID"},
		{"GivenIDNil", fstest.MapFS{}, "", "00000000-0000-0000-0000-000000000000", "host ID: the nil UUID"},
		{"FileNQNNoPrefix", fstest.MapFS{host.HostNQNFile: file("hostname\n")}, "", id, `/etc/nvme/hostnqn: does not start with "nqn."`},
		{"FileNQNControl", fstest.MapFS{host.HostNQNFile: file("nqn.a\tb\n")}, "", id, "/etc/nvme/hostnqn: byte 0x09 at offset 5"},
		{"FileIDNotUUID", fstest.MapFS{host.HostIDFile: file("\x1b]0;owned\x07\n")}, "", "", "/etc/nvme/hostid: nvme: not a UUID"},
		{"FileTooLong", fstest.MapFS{host.HostNQNFile: file(strings.Repeat("n", host.MaxIdentityFile+1))}, "", id, "/etc/nvme/hostnqn is longer than 4096 bytes"},
		{"FileFIFO", fstest.MapFS{host.HostIDFile: &fstest.MapFile{Mode: fs.ModeNamedPipe}}, "", "", "/etc/nvme/hostid is not a regular file"},
		{"FileDirectory", fstest.MapFS{host.HostNQNFile + "/x": file("")}, "", id, "/etc/nvme/hostnqn is not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := host.LoadIdentity(tt.files, tt.nqn, tt.id)
			if !errors.Is(err, host.ErrInvalidIdentity) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("LoadIdentity = %+v, %v; want ErrInvalidIdentity saying %q", got, err, tt.want)
			}
			if strings.ContainsAny(err.Error(), "\x1b\x07") || strings.Contains(err.Error(), "owned") {
				t.Errorf("error %q quotes the file", err)
			}
		})
	}
}

// Connect sends the host identity it is given, makes the missing half
// from the other as LoadIdentity does, and with neither sends the
// process's identity, the same on every Connect.
func TestConnectHostIdentity(t *testing.T) {
	const (
		id  = "7606632c-1966-40e1-95e8-7f72b2825e5c"
		nqn = "nqn.2014-08.org.nvmexpress:uuid:78d3e2bd-d06e-4534-b149-0832aa110cff"
	)
	fallback, err := host.LoadIdentity(fstest.MapFS{}, "", "")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name            string
		cfg             host.Config
		wantNQN, wantID string
	}{
		{"Both", host.Config{HostNQN: "nqn.2026-01.io.example:host", HostID: mustUUID(t, id)}, "nqn.2026-01.io.example:host", id},
		{"IDOnly", host.Config{HostID: mustUUID(t, id)}, host.UUIDNQNPrefix + id, id},
		{"UUIDNQNOnly", host.Config{HostNQN: nqn}, nqn, "78d3e2bd-d06e-4534-b149-0832aa110cff"},
		{"OtherNQNOnly", host.Config{HostNQN: "nqn.2026-01.io.example:host"}, "nqn.2026-01.io.example:host", string(nvme.AppendUUID(nil, fallback.ID))},
		{"Neither", host.Config{}, fallback.NQN, string(nvme.AppendUUID(nil, fallback.ID))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &scriptedCtrl{mqes: 31, shst: true}
			addr := f.start(t)
			for range 2 {
				hostileConnect(t, addr, tt.cfg).Close()
			}
			f.mu.Lock()
			hosts := f.hosts
			f.mu.Unlock()
			if len(hosts) != 2 {
				t.Fatalf("%d Connects, want 2", len(hosts))
			}
			for _, h := range hosts {
				if h.HostNQN != tt.wantNQN || h.HostID != mustUUID(t, tt.wantID) {
					t.Errorf("Connect data host NQN %q, host ID %x; want %q, %s", h.HostNQN, h.HostID, tt.wantNQN, tt.wantID)
				}
			}
		})
	}
}

// FuzzLoadIdentity reads any contents from /etc/nvme/hostnqn,
// /etc/nvme/hostid and /etc/machine-id: the result is an error wrapping
// ErrInvalidIdentity, or an identity with a valid host NQN and a non-nil
// host ID.
func FuzzLoadIdentity(f *testing.F) {
	f.Add("nqn.2014-08.org.nvmexpress:uuid:78d3e2bd-d06e-4534-b149-0832aa110cff\n", "7606632c-1966-40e1-95e8-7f72b2825e5c\n", "0123456789abcdef0123456789abcdef\n")
	f.Add("", "", "")
	f.Add("nqn.2014-08.org.nvmexpress:uuid:00000000-0000-0000-0000-000000000000", "", "00000000000000000000000000000000")
	f.Add("nqn.\x1b[2J", "\x00\x00", "zz")
	f.Add("nqn.a\r\nb", "7606632c-1966-40e1-95e8-7f72b2825e5c garbage", "0123456789abcdef0123456789abcdeg")
	f.Fuzz(func(t *testing.T, nqn, id, machine string) {
		files := fstest.MapFS{
			host.HostNQNFile:   {Data: []byte(nqn)},
			host.HostIDFile:    {Data: []byte(id)},
			host.MachineIDFile: {Data: []byte(machine)},
		}
		idn, err := host.LoadIdentity(files, "", "")
		if err != nil {
			if !errors.Is(err, host.ErrInvalidIdentity) {
				t.Fatalf("LoadIdentity: %v", err)
			}
			return
		}
		if len(idn.NQN) > nvme.MaxNQNLen || !strings.HasPrefix(idn.NQN, "nqn.") || idn.ID == ([16]byte{}) {
			t.Fatalf("LoadIdentity = %+v", idn)
		}
		for i := range len(idn.NQN) {
			if idn.NQN[i] < 0x20 || idn.NQN[i] > 0x7e {
				t.Fatalf("host NQN %q has byte %#x", idn.NQN, idn.NQN[i])
			}
		}
	})
}
