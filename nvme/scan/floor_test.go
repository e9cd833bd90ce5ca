package scan_test

import (
	"context"
	"testing"
	"time"

	"github.com/complchain/complchain/nvme/scan"
)

// TestFloor checks that a floor run takes at least the round trips its
// shape implies: one per list page, one per q commands.
func TestFloor(t *testing.T) {
	for _, tc := range []struct {
		name string
		rtt  time.Duration
		n, q int
		min  time.Duration // least possible time of a run
	}{
		{"no delay, three pages, shallow queue", 0, 2100, 16, 0},
		{"one page, commands in 20 round trips", time.Millisecond, 100, 10, 21 * time.Millisecond},
		{"three pages, one round trip each", 2 * time.Millisecond, 2100, 1024, 3 * 2 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := scan.NewFloor(context.Background(), tc.rtt, tc.n, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			for range 2 { // a floor can be run again
				d, err := f.Run(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				if d < tc.min {
					t.Errorf("run took %v, less than the %v its round trips take", d, tc.min)
				}
			}
		})
	}
}

func TestFloorCancelled(t *testing.T) {
	f, err := scan.NewFloor(context.Background(), time.Millisecond, 5000, 64)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f.Run(ctx); err == nil {
		t.Error("a run with a done context succeeded")
	}
}

func TestFloorArgs(t *testing.T) {
	for _, tc := range []struct {
		rtt  time.Duration
		n, q int
	}{{0, 0, 1}, {0, 1, 0}, {-time.Millisecond, 1, 1}} {
		if f, err := scan.NewFloor(context.Background(), tc.rtt, tc.n, tc.q); err == nil {
			f.Close()
			t.Errorf("NewFloor(%v, %d, %d) succeeded", tc.rtt, tc.n, tc.q)
		}
	}
}
