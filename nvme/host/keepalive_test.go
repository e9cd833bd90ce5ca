package host_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/complchain/complchain/internal/memtest"
	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/nvme/host"
)

// The host asks for the keep alive timeout it is given (Connect CDW12, in
// ms) and then sends Keep Alive every half of it, each within KATO of the
// previous one (half a KATO of slack for a loaded machine); a negative
// KATO asks for none.
func TestKeepAlive(t *testing.T) {
	tests := []struct {
		name     string
		kato     time.Duration
		wantKATO uint32
	}{
		{"Default", 0, 10_000},
		{"Given", time.Second, 1000},
		{"None", -1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			memtest.Bounded(t, 4<<20)
			f := &scriptedCtrl{mqes: 31, shst: true}
			addr := f.start(t)
			start := time.Now()
			c, err := host.Connect(context.Background(), addr, host.Config{SubsystemNQN: "nqn.2026-01.io.example:ka", KATO: tt.kato})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			f.mu.Lock()
			katos := f.katos
			f.mu.Unlock()
			if len(katos) != 1 || katos[0] != tt.wantKATO {
				t.Fatalf("Connect KATO %v ms, want [%d]", katos, tt.wantKATO)
			}
			if tt.kato <= 0 {
				return // too long, or never: nothing to wait for
			}
			prev := start
			for i := range 3 {
				select {
				case at := <-f.kaSeen:
					if gap := at.Sub(prev); gap > tt.kato {
						t.Errorf("Keep Alive %d came %v after the previous command, more than KATO %v", i+1, gap, tt.kato)
					}
					prev = at
				case <-time.After(10 * tt.kato):
					t.Fatalf("no Keep Alive %d within %v", i+1, 10*tt.kato)
				}
			}
		})
	}
}

// A Keep Alive the controller fails stops the controller, and Err says
// why.
func TestKeepAliveFailed(t *testing.T) {
	memtest.Bounded(t, 4<<20)
	f := &scriptedCtrl{mqes: 31, shst: true, kaStatus: nvme.StatusInternalError}
	c, err := host.Connect(context.Background(), f.start(t), host.Config{SubsystemNQN: "nqn.2026-01.io.example:ka", KATO: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("controller still up 5 s after a failed Keep Alive")
	}
	var st nvme.Status
	if err := c.Err(); !errors.As(err, &st) || st != nvme.StatusInternalError || !strings.Contains(err.Error(), "keep alive") {
		t.Fatalf("Err() = %v, want the failed Keep Alive's status", err)
	}
}
