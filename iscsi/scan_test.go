package iscsi

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/complchain/complchain/scanmode"
	"github.com/complchain/complchain/scsi"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// startTarget serves hosts on 127.0.0.1 and returns its address.
func startTarget(t *testing.T, cfg TargetConfig) (*Target, string) {
	t.Helper()
	tg := NewTarget(cfg)
	addr, err := tg.Start(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tg.Close() })
	return tg, addr
}

func emulated(n, luns int) []*scsi.Host {
	hosts := make([]*scsi.Host, n)
	for i := range hosts {
		hosts[i] = &scsi.Host{LUNs: luns, Vendor: "LIO-ORG", Product: "RAMDISK-MCP", Rev: "4.0", Latency: time.Duration(n-i) * 100 * time.Microsecond}
	}
	return hosts
}

// scan scans every target of the portal as hosts 0, 1, … in mode m.
func scan(t *testing.T, addr string, names []string, m scanmode.Mode, cfg Config, timeout time.Duration) *scsi.Scanner {
	t.Helper()
	s := &scsi.Scanner{Mode: m, Timeout: timeout}
	var hosts []*Host
	for _, n := range names {
		c := cfg
		c.TargetName = n
		h := NewHost(addr, c)
		hosts = append(hosts, h)
		s.AddHost(t.Context(), h)
	}
	if err := s.WaitScans(t.Context()); err != nil {
		t.Fatal(err)
	}
	s.Close()
	for _, h := range hosts {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		h.Close(ctx)
		cancel()
	}
	return s
}

// Disks of every target are named in host order over real sockets, in
// every mode that promises it, with identities from the emulated hosts.
func TestScanOverISCSI(t *testing.T) {
	const hosts, luns = 6, 5
	_, addr := startTarget(t, TargetConfig{Hosts: emulated(hosts, luns)})
	targets, err := Discover(t.Context(), addr, Config{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tg := range targets {
		names = append(names, tg.Name)
		if len(tg.Addresses) != 1 || tg.Addresses[0] != addr+",1" {
			t.Errorf("%s: addresses %q, want [%s,1]", tg.Name, tg.Addresses, addr)
		}
	}
	if want := []string{DefaultNamePrefix + "0", DefaultNamePrefix + "1", DefaultNamePrefix + "2", DefaultNamePrefix + "3", DefaultNamePrefix + "4", DefaultNamePrefix + "5"}; !slices.Equal(names, want) {
		t.Fatalf("SendTargets = %q, want %q", names, want)
	}
	for _, m := range []scanmode.Mode{scanmode.Ordered, scanmode.Sync} {
		t.Run(m.String(), func(t *testing.T) {
			s := scan(t, addr, names, m, Config{}, 10*time.Second)
			if errs := s.Errors(); len(errs) > 0 {
				t.Fatal(errs)
			}
			devs := s.Devices()
			if len(devs) != hosts*luns {
				t.Fatalf("%d devices, want %d", len(devs), hosts*luns)
			}
			for i, d := range devs {
				want := scsi.Addr{Host: i / luns, LUN: uint16(i % luns)}
				if d.Addr != want || d.Name != scsi.DiskName(i) {
					t.Errorf("device %d: %v %s, want %v %s", i, d.Addr, d.Name, want, scsi.DiskName(i))
				}
				if d.Vendor != "LIO-ORG" || d.Product != "RAMDISK-MCP" || d.Capacity.Bytes() != 16<<20 || len(d.NAA) != 8 {
					t.Errorf("device %d: %+v", i, d)
				}
			}
		})
	}
}

var _ = fmt.Sprint
