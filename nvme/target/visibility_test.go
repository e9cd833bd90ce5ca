package target

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/nvme/tcp"
)

// A namespace hidden from one port leaves the Identify active NSID list,
// the ANA log and the I/O path of that port's controllers only, and only
// they get its NSID in the Changed Namespace List with a notice.
func TestSetVisible(t *testing.T) {
	tg := newTarget(t, Config{Namespaces: 3})
	t.Cleanup(func() { tg.Close() })
	type path struct {
		adm, io *tcp.HostQueue
		ev      <-chan error
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var paths [2]path
	for i := range paths {
		addr := servePort(t, tg, PortConfig{PortID: uint16(i + 1)})
		adm, cntlid := admin(t, addr, tg.NQN(), 0)
		io := dial(t, addr, tcp.HostConfig{})
		if _, err := connect(io, 1, cntlid, tg.NQN(), 0); err != nil {
			t.Fatal(err)
		}
		enableAEN(t, adm)
		paths[i] = path{adm: adm, io: io, ev: aer(ctx, adm)}
	}
	tests := []struct {
		name    string
		nsid    uint32
		port    uint16
		visible bool
		active  [2][]uint32 // per port
		changed [2][]uint32 // per port
	}{
		{"hide on port 2", 2, 2, false, [2][]uint32{{1, 2, 3}, {1, 3}}, [2][]uint32{nil, {2}}},
		{"hide on port 2 again", 2, 2, false, [2][]uint32{{1, 2, 3}, {1, 3}}, [2][]uint32{nil, nil}},
		{"hide on port 1", 2, 1, false, [2][]uint32{{1, 3}, {1, 3}}, [2][]uint32{{2}, nil}},
		{"hide 3 on port 1", 3, 1, false, [2][]uint32{{1}, {1, 3}}, [2][]uint32{{3}, nil}},
		{"show on port 2", 2, 2, true, [2][]uint32{{1}, {1, 2, 3}}, [2][]uint32{nil, {2}}},
		{"show on a port not served", 1, 9, true, [2][]uint32{{1}, {1, 2, 3}}, [2][]uint32{nil, nil}},
	}
	for _, tt := range tests {
		if err := tg.SetVisible(tt.nsid, tt.port, tt.visible); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		for i, p := range paths {
			if tt.changed[i] != nil {
				if err := <-p.ev; err != nil {
					t.Fatalf("%s: port %d: notice: %v", tt.name, i+1, err)
				}
				p.ev = aer(ctx, p.adm)
				paths[i] = p
			}
			b, err := getLog(p.adm, nvme.LogChangedNamespace, changedLogSize, 0, false)
			if err != nil {
				t.Fatal(err)
			}
			if got := nvme.ParseNSIDList(nil, b); !slices.Equal(got, tt.changed[i]) {
				t.Errorf("%s: port %d: changed list %v, want %v", tt.name, i+1, got, tt.changed[i])
			}
			b, err = identify(p.adm, nvme.CNSActiveNamespaces, 0)
			if err != nil {
				t.Fatal(err)
			}
			if got := nvme.ParseNSIDList(nil, b); !slices.Equal(got, tt.active[i]) {
				t.Errorf("%s: port %d: active %v, want %v", tt.name, i+1, got, tt.active[i])
			}
			var inANA []uint32
			for _, g := range anaLogOf(t, p.adm, false, true).Groups {
				inANA = append(inANA, g.NSIDs...)
			}
			if slices.Sort(inANA); !slices.Equal(inANA, tt.active[i]) {
				t.Errorf("%s: port %d: ANA log NSIDs %v, want %v", tt.name, i+1, inANA, tt.active[i])
			}
			for nsid := uint32(1); nsid <= 3; nsid++ {
				active := slices.Contains(tt.active[i], nsid)
				b, err := identify(p.adm, nvme.CNSNamespace, nsid)
				if err != nil {
					t.Fatal(err)
				}
				var id nvme.IdentifyNamespace
				id.UnmarshalBinary(b)
				if (id.NSZE != 0) != active {
					t.Errorf("%s: port %d: NSID %d: NSZE %d, active %v", tt.name, i+1, nsid, id.NSZE, active)
				}
				_, err = p.io.Do(ctx, readCmd(nsid, 0, 1), make([]byte, 512))
				if active && err != nil {
					t.Errorf("%s: port %d: read NSID %d: %v", tt.name, i+1, nsid, err)
				} else if !active {
					wantStatus(t, err, nvme.StatusInvalidNamespace)
				}
			}
		}
	}
	if err := tg.SetVisible(7, 1, false); !errors.Is(err, ErrNoNamespace) {
		t.Errorf("SetVisible of NSID 7: %v, want ErrNoNamespace", err)
	}
	// Detach forgets where a namespace was hidden.
	if err := tg.Detach(3); err != nil {
		t.Fatal(err)
	}
	if err := tg.Attach(Namespace{NSID: 3}); err != nil {
		t.Fatal(err)
	}
	b, err := identify(paths[0].adm, nvme.CNSActiveNamespaces, 0)
	if err != nil {
		t.Fatal(err)
	}
	checkList(t, b, 1, 3)
}
