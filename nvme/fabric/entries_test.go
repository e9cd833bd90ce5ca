package fabric

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/complchain/complchain/nvme"
)

// Each NVM subsystem entry a hostile log may hold becomes a port or an
// ErrUnusable report naming it, never a connection attempt that cannot
// work. ADRFAM is not checked: TRADDR alone decides, as for Linux's
// nvme-tcp, which has no address family option.
func TestDiscoverEntries(t *testing.T) {
	tests := []struct {
		name     string
		trtype   uint8
		adrfam   uint8
		traddr   string
		trsvcid  string
		subnqn   string
		wantAddr string // "" if unusable
	}{
		{"TCP IPv4", nvme.TransportTCP, 1, "127.0.0.1", "4420", "nqn.a", "127.0.0.1:4420"},
		{"TCP IPv6", nvme.TransportTCP, 2, "::1", "4420", "nqn.a", "[::1]:4420"},
		{"ADRFAM IPv4 with an IPv6 TRADDR", nvme.TransportTCP, 1, "::1", "4420", "nqn.a", "[::1]:4420"},
		{"ADRFAM unknown", nvme.TransportTCP, 0xfe, "127.0.0.1", "4420", "nqn.a", "127.0.0.1:4420"},
		{"NQN of 223 bytes", nvme.TransportTCP, 1, "127.0.0.1", "4420", "nqn." + strings.Repeat("x", 219), "127.0.0.1:4420"},
		{"NQN of 224 bytes", nvme.TransportTCP, 1, "127.0.0.1", "4420", "nqn." + strings.Repeat("x", 220), ""},
		{"NQN of 256 bytes, no NUL", nvme.TransportTCP, 1, "127.0.0.1", "4420", "nqn." + strings.Repeat("x", 252), ""},
		{"NQN empty", nvme.TransportTCP, 1, "127.0.0.1", "4420", "", ""},
		{"RDMA", 1, 1, "127.0.0.1", "4420", "nqn.a", ""},
		{"FC", 2, 1, "nn-0x1:pn-0x2", "none", "nqn.a", ""},
		{"loop", 254, 0, "", "", "nqn.a", ""},
		{"zone", nvme.TransportTCP, 2, "fe80::1%eth0", "4420", "nqn.a", ""},
		{"host name", nvme.TransportTCP, 1, "localhost", "4420", "nqn.a", ""},
		{"escape sequence", nvme.TransportTCP, 1, "\x1b[2J127.0.0.1", "4420", "nqn.a", ""},
		{"port 0", nvme.TransportTCP, 1, "127.0.0.1", "0", "nqn.a", ""},
		{"port 65536", nvme.TransportTCP, 1, "127.0.0.1", "65536", "nqn.a", ""},
		{"port signed", nvme.TransportTCP, 1, "127.0.0.1", "+4420", "nqn.a", ""},
		{"port empty", nvme.TransportTCP, 1, "127.0.0.1", "", "nqn.a", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := nvme.DiscoveryEntry{TransportType: tt.trtype, AddressFamily: tt.adrfam, SubsystemType: nvme.SubtypeNVM,
				CNTLID: nvme.DynamicController, AdminQueueMax: 32, ServiceID: tt.trsvcid, SubsystemNQN: tt.subnqn, Address: tt.traddr}
			d0 := startDisc(t, e)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			d := Discover(ctx, []string{d0.addr}, DiscoverConfig{})
			if tt.wantAddr != "" {
				if len(d.Ports) != 1 || d.Ports[0].Addr != tt.wantAddr || d.Ports[0].NQN != tt.subnqn || len(d.Errors) > 0 {
					t.Errorf("ports %+v, errors %v; want one at %s", d.Ports, d.Errors, tt.wantAddr)
				}
				return
			}
			var pe *PortError
			if len(d.Ports) != 0 || len(d.Errors) != 1 || !errors.As(d.Errors[0], &pe) || !errors.Is(pe, ErrUnusable) || pe.Addr != d0.addr {
				t.Errorf("ports %+v, errors %v; want one ErrUnusable naming %s", d.Ports, d.Errors, d0.addr)
			}
		})
	}
}
