package multipath

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/complchain/complchain/nvme"
)

// listV is the part of nvme-cli's "nvme list -v -o json" the test reads.
type listV struct {
	Devices []struct {
		Subsystems []struct {
			Subsystem    string
			SubsystemNQN string
			Controllers  []listVController
			Namespaces   []struct {
				NameSpace string
				NSID      uint32
			}
		}
	}
}

type listVController struct {
	Controller string
	Address    string
	Paths      []struct{ Path, ANAState string }
}

// A Linux 6.1 host connected to both ports of a Linux nvmet target (port
// 2's ANA group inaccessible) named one head per namespace with a path
// through each controller. The same controllers, namespaces and ANA
// states through Subsystem, with index naming (what Linux's sequential
// scan gives), make the same head and path names and the same ANAState
// strings.
func TestLinuxNames(t *testing.T) {
	b, err := os.ReadFile("testdata/linux-6.1-list-v.json")
	if err != nil {
		t.Fatal(err)
	}
	var l listV
	if err := json.Unmarshal(b, &l); err != nil {
		t.Fatal(err)
	}
	sub := l.Devices[0].Subsystems[0]
	// The UUID of each NSID, from the head devices' wwid.
	uuids := map[uint32][16]byte{}
	b, err = os.ReadFile("testdata/linux-6.1-paths.txt")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		f := strings.Split(strings.TrimSpace(line), "|")
		if len(f) != 5 || strings.HasPrefix(f[0], "#") || strings.Contains(f[0], "c") {
			continue
		}
		nsid, _ := strconv.Atoi(f[4])
		u, err := hex.DecodeString(strings.ReplaceAll(strings.TrimPrefix(f[1], "uuid."), "-", ""))
		if err != nil || len(u) != 16 {
			t.Fatalf("%q: %v", line, err)
		}
		uuids[uint32(nsid)] = [16]byte(u)
	}
	if len(uuids) != 4 {
		t.Fatalf("%d namespaces in paths.txt", len(uuids))
	}
	state := map[string]nvme.ANAState{"15420": nvme.ANAOptimized, "15421": nvme.ANAInaccessible} // by port, as set
	s, err := New(Config{NQN: sub.SubsystemNQN, Instance: 0, Naming: Index})
	if err != nil {
		t.Fatal(err)
	}
	ctrls := slices.Clone(sub.Controllers)
	slices.SortFunc(ctrls, func(a, b listVController) int { return strings.Compare(a.Controller, b.Controller) })
	for _, c := range ctrls { // nvme0 then nvme1, each scanned in NSID order
		inst, _ := strconv.Atoi(strings.TrimPrefix(c.Controller, "nvme"))
		_, port, _ := strings.Cut(c.Address, "trsvcid=")
		port, _, _ = strings.Cut(port, ",")
		for nsid := uint32(1); nsid <= 4; nsid++ {
			p := Path{Controller: inst, NSID: nsid, IDs: nvme.NSIdentifiers{UUID: uuids[nsid]}, Shared: true, ANAGRPID: 1, ANAState: state[port]}
			if _, err := s.Attach(context.Background(), p); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, ns := range sub.Namespaces {
		h, ok := s.Head(ns.NSID)
		if !ok || h.Name() != ns.NameSpace {
			t.Errorf("NSID %d: head %q, Linux named it %q", ns.NSID, h.Name(), ns.NameSpace)
		}
	}
	for _, c := range sub.Controllers {
		inst, _ := strconv.Atoi(strings.TrimPrefix(c.Controller, "nvme"))
		for _, lp := range c.Paths {
			found := false
			for _, h := range s.Heads() {
				for _, p := range h.Paths {
					if p.Controller == inst && h.PathName(inst) == lp.Path {
						found = true
						if p.ANAState.String() != lp.ANAState {
							t.Errorf("%s: %s, Linux shows %s", lp.Path, p.ANAState, lp.ANAState)
						}
					}
				}
			}
			if !found {
				t.Errorf("Linux's path %s has no match", lp.Path)
			}
		}
	}
}
