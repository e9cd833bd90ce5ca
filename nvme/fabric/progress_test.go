package fabric

import (
	"sync"
	"testing"

	"github.com/complchain/complchain/scanmode"
)

// Progress counts, over every controller, each namespace done once and
// each namespace listed once: once every scan has ended both are
// the namespaces of all ports.
func TestScanProgress(t *testing.T) {
	const perPort = 5
	ports := startTargets(t, perPort, 0, 0, 0)
	for _, mode := range []scanmode.Mode{scanmode.Ordered, scanmode.Async, scanmode.Sync} {
		t.Run(mode.String(), func(t *testing.T) {
			var mu sync.Mutex
			var calls, lastDone, maxListed int
			s := &Scanner{Mode: mode, Progress: func(done, listed int) {
				mu.Lock()
				defer mu.Unlock()
				calls++
				lastDone = max(lastDone, done)
				maxListed = max(maxListed, listed)
			}}
			scanPorts(t, s, ports)
			want := perPort * len(ports)
			if calls != want || lastDone != want || maxListed != want {
				t.Errorf("calls %d, done %d, listed %d; want %d each", calls, lastDone, maxListed, want)
			}
		})
	}
}
