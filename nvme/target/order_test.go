package target

import (
	"context"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/nvme/tcp"
)

// pipeQueue serves one end of a pipe as a connection of tg through port
// p and returns a host queue on the other end.
func pipeQueue(t *testing.T, ctx context.Context, tg *Target, p *Port) *tcp.HostQueue {
	hostEnd, tgtEnd := net.Pipe()
	done := make(chan struct{})
	go func() {
		tg.serveConn(ctx, tgtEnd, p)
		close(done)
	}()
	q, err := tcp.NewHostQueue(ctx, hostEnd, tcp.HostConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		q.Close()
		<-done
	})
	return q
}

// Connect and Identify delays per subsystem and per port make the
// controllers of a fabric answer in the order a test chooses; with the
// clock of a synctest bubble the order is exact.
func TestAnswerOrder(t *testing.T) {
	const n = 5
	perm := rand.New(rand.NewPCG(7, 7)).Perm(n)
	tests := []struct {
		name     string
		delay    func(i int) time.Duration // of subsystem i
		identify bool                      // delay Identify instead of Connect
		portWait time.Duration
	}{
		{"connect in reverse", func(i int) time.Duration { return time.Duration(n-i) * 10 * time.Millisecond }, false, 0},
		{"connect at random", func(i int) time.Duration { return time.Duration(perm[i]+1) * 10 * time.Millisecond }, false, 0},
		{"connect in reverse behind a slow port", func(i int) time.Duration { return time.Duration(n-i) * time.Millisecond }, false, time.Second},
		{"identify in reverse", func(i int) time.Duration { return time.Duration(n-i) * 10 * time.Millisecond }, true, 0},
		{"identify at random", func(i int) time.Duration { return time.Duration(perm[i]+1) * 10 * time.Millisecond }, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var cfg Config
				for i := range n {
					sc := SubsystemConfig{NQN: "nqn.2026-01.io.example:sub" + strconv.Itoa(i)}
					if tt.identify {
						sc.IdentifyDelay = tt.delay(i)
					} else {
						sc.ConnectDelay = tt.delay(i)
					}
					cfg.Subsystems = append(cfg.Subsystems, sc)
				}
				tg := newTarget(t, cfg)
				defer tg.Close()
				port := &Port{id: 1, addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 4420}, cfg: PortConfig{ConnectDelay: tt.portWait}}
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				var qs []*tcp.HostQueue
				if tt.identify {
					for i := range n {
						q := pipeQueue(t, ctx, tg, port)
						if _, err := q.Do(ctx, connectCmd(0, 31, 0), connectDataBytes(nvme.DynamicController, cfg.Subsystems[i].NQN, testHostNQN)); err != nil {
							t.Fatal(err)
						}
						if err := propSet(q, nvme.PropCC, ccEnable); err != nil {
							t.Fatal(err)
						}
						qs = append(qs, q)
					}
				}
				start := time.Now()
				done := make(chan int, n)
				for i := range n {
					go func() {
						var err error
						if tt.identify {
							_, err = identify(qs[i], nvme.CNSController, 0)
						} else {
							q := pipeQueue(t, ctx, tg, port)
							_, err = q.Do(ctx, connectCmd(0, 31, 0), connectDataBytes(nvme.DynamicController, cfg.Subsystems[i].NQN, testHostNQN))
						}
						if err != nil {
							t.Error(err)
						}
						done <- i
					}()
				}
				var order []int
				for range n {
					order = append(order, <-done)
				}
				want := make([]int, n)
				for i := range want {
					want[i] = i
				}
				slices.SortFunc(want, func(a, b int) int { return int(tt.delay(a) - tt.delay(b)) })
				if !slices.Equal(order, want) {
					t.Errorf("answered in order %v, want %v", order, want)
				}
				longest := slices.Max([]time.Duration{tt.delay(0), tt.delay(1), tt.delay(2), tt.delay(3), tt.delay(4)})
				if took := time.Since(start); took != longest+tt.portWait {
					t.Errorf("took %v, want %v", took, longest+tt.portWait)
				}
			})
		})
	}
}
