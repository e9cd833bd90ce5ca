package fabric

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/nvme/host"
)

// FuzzDiscoveryLogPorts decodes a discovery log page from a peer and
// lists its ports as Discover does: no panic, and every port has an IP
// address and a port number spelled one way (canonicalAddr) and an NQN
// of 1 to 223 bytes, the SUBNQN and address pairs are unique, and every
// entry became a port, a report, a referral or nothing (current
// discovery).
func FuzzDiscoveryLogPorts(f *testing.F) {
	f.Add(nvme.AppendDiscoveryLog(nil, 1, []nvme.DiscoveryEntry{
		{TransportType: nvme.TransportTCP, AddressFamily: 1, SubsystemType: nvme.SubtypeNVM, ServiceID: "4420", SubsystemNQN: "nqn.s1", Address: "10.0.2.15"},
		{TransportType: nvme.TransportTCP, AddressFamily: 1, SubsystemType: nvme.SubtypeNVM, ServiceID: "4420", SubsystemNQN: "nqn.s1", Address: "10.0.2.15"},
		{TransportType: nvme.TransportTCP, AddressFamily: 2, SubsystemType: nvme.SubtypeReferral, ServiceID: "8009", SubsystemNQN: nvme.DiscoveryNQN, Address: "::1"},
		{TransportType: nvme.TransportTCP, AddressFamily: 1, SubsystemType: nvme.SubtypeReferral, ServiceID: "8009", SubsystemNQN: nvme.DiscoveryNQN, Address: "127.0.0.1"},
		{TransportType: 1, SubsystemType: nvme.SubtypeNVM, ServiceID: "x", SubsystemNQN: "nqn.\x1b[2J", Address: "fe80::1%eth0"},
	}))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _, entries, err := nvme.ParseDiscoveryLog(b)
		if err != nil {
			return
		}
		const self = "127.0.0.1:8009"
		w := &walker{logs: map[string]*logRead{self: {addr: self, entries: entries}}}
		d := &Discovery{}
		fl := flattener{w: w, d: d, onPath: map[string]bool{}, expanded: map[string]bool{}, seen: map[[2]string]string{}}
		fl.expand(self)
		seen := map[[2]string]bool{}
		for _, p := range d.Ports {
			h, port, err := net.SplitHostPort(p.Addr)
			if _, aerr := netip.ParseAddr(h); err != nil || aerr != nil || port == "" {
				t.Fatalf("port %+v: address not IP:port", p)
			}
			if p.NQN == "" || len(p.NQN) > nvme.MaxNQNLen {
				t.Fatalf("port %+v: SUBNQN of %d bytes", p, len(p.NQN))
			}
			if c := canonicalAddr(p.Addr); c != p.Addr {
				t.Fatalf("port %+v: address not canonical, want %s", p, c)
			}
			k := [2]string{p.NQN, p.Addr}
			if seen[k] {
				t.Fatalf("port %+v twice", p)
			}
			seen[k] = true
		}
		if len(d.Ports)+len(d.Errors) > len(entries) {
			t.Fatalf("%d ports and %d reports from %d entries", len(d.Ports), len(d.Errors), len(entries))
		}
	})
}

// FuzzDiscoveryLog serves arbitrary bytes as a discovery log page over a
// real connection (zeros past their end, as nvmet does) and reads it as
// Discover does: the read ends within its timeout, and a log read whole
// holds the header's GENCTR and NUMREC records, at most
// host.MaxDiscoveryRecords.
func FuzzDiscoveryLog(f *testing.F) {
	f.Add(nvme.AppendDiscoveryLog(nil, 1, nil))
	f.Add(nvme.AppendDiscoveryLog(nil, 7, []nvme.DiscoveryEntry{
		{TransportType: nvme.TransportTCP, AddressFamily: 1, SubsystemType: nvme.SubtypeNVM, ServiceID: "4420", SubsystemNQN: "nqn.s1", Address: "127.0.0.1"},
	})[:1500])
	f.Add([]byte{0: 1, 8: 0x11}) // NUMREC 17 in a header cut short: two chunks of zeros
	f.Fuzz(func(t *testing.T, page []byte) {
		s := startDiscFunc(t, func(int) []byte { return page })
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := host.Connect(ctx, s.addr, host.Config{KATO: -1, CommandTimeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		log, err := c.DiscoveryLog(ctx)
		if ctx.Err() != nil {
			t.Fatal("the host waited past 10 s")
		}
		hdr := make([]byte, nvme.DiscoveryLogHeaderSize)
		copy(hdr, page)
		genctr, numrec, _, _ := nvme.ParseDiscoveryLog(hdr)
		switch {
		case numrec > host.MaxDiscoveryRecords:
			if !errors.Is(err, host.ErrTooManyRecords) {
				t.Fatalf("NUMREC %d: %v, want ErrTooManyRecords", numrec, err)
			}
		case err != nil:
			t.Fatalf("a log that does not change: %v", err)
		case log.GENCTR != genctr || uint64(len(log.Entries)) != numrec:
			t.Fatalf("GENCTR %d, %d entries; want %d, %d", log.GENCTR, len(log.Entries), genctr, numrec)
		}
	})
}
