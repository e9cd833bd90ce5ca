package target

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"

	"github.com/complchain/complchain/nvme"
)

// ErrNoReferral is returned by RemoveReferral for an address not referred to.
var ErrNoReferral = errors.New("target: no such referral")

// Discovery log entry values (NVMe over Fabrics, Discovery Log Page Entry).
const (
	trtypeTCP      = 3
	adrfamIPv4     = 1
	adrfamIPv6     = 2
	subtypeRefer   = 1 // a referral to another discovery subsystem
	subtypeNVM     = 2
	treqNotSpecced = 0 // secure channel not specified, SQ flow control disable not supported
)

// Referral is another discovery controller that a Target's discovery log
// points hosts to: an entry of SUBTYPE 1 with the discovery NQN.
type Referral struct {
	Addr   string // "IP:port": TRADDR and TRSVCID
	PortID uint16 // PORTID of the entry
}

// entry returns r's discovery log entry; r was checked.
func (r Referral) entry(asqsz uint16) nvme.DiscoveryEntry {
	host, port, _ := net.SplitHostPort(r.Addr)
	ip := net.ParseIP(host)
	return logEntry(subtypeRefer, r.PortID, asqsz, nvme.DiscoveryNQN, ip, port)
}

// check checks a referral's address; field names it in errors.
func (r Referral) check(field string) error {
	host, port, err := net.SplitHostPort(r.Addr)
	if err != nil {
		return fmt.Errorf("%w: %sAddr %q: %w", ErrInvalidConfig, field, r.Addr, err)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return fmt.Errorf("%w: %sAddr %q: port not in 1..65535", ErrInvalidConfig, field, r.Addr)
	}
	if net.ParseIP(host) == nil {
		return fmt.Errorf("%w: %sAddr %q: not an IP address", ErrInvalidConfig, field, r.Addr)
	}
	return nil
}

// logEntry returns a discovery log entry for TCP.
func logEntry(subtype uint8, portID, asqsz uint16, nqn string, ip net.IP, port string) nvme.DiscoveryEntry {
	e := nvme.DiscoveryEntry{
		TransportType: trtypeTCP,
		AddressFamily: adrfamIPv4,
		SubsystemType: subtype,
		Requirements:  treqNotSpecced,
		PortID:        portID,
		CNTLID:        nvme.DynamicController,
		AdminQueueMax: asqsz,
		ServiceID:     port,
		SubsystemNQN:  nqn,
		Address:       ip.String(),
	}
	if ip.To4() == nil {
		e.AddressFamily = adrfamIPv6
	}
	return e
}

// AddReferral adds a referral to the discovery log, after those already
// there; the log's GENCTR increments. An invalid address, or one referred
// to already, is an error wrapping ErrInvalidConfig.
func (t *Target) AddReferral(r Referral) error { return t.addReferral(r, "Referral.") }

// addReferral is AddReferral; field names r in errors.
func (t *Target) addReferral(r Referral, field string) error {
	if err := r.check(field); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if slices.ContainsFunc(t.referrals, func(o Referral) bool { return o.Addr == r.Addr }) {
		return fmt.Errorf("%w: %sAddr %s referred to twice", ErrInvalidConfig, field, r.Addr)
	}
	t.referrals = append(t.referrals, r)
	t.discoveryChangedLocked()
	return nil
}

// RemoveReferral removes the referral to addr; the log's GENCTR
// increments. It returns ErrNoReferral if there is none.
func (t *Target) RemoveReferral(addr string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	i := slices.IndexFunc(t.referrals, func(o Referral) bool { return o.Addr == addr })
	if i < 0 {
		return fmt.Errorf("%w: %s", ErrNoReferral, addr)
	}
	t.referrals = slices.Delete(t.referrals, i, i+1)
	t.discoveryChangedLocked()
	return nil
}

// discoveryLog returns n bytes at offset off of the discovery log page
// (70h) that the host hostnqn, connected through q, reads: an entry for
// each port (in PORTID order) and each subsystem (in Config order) the
// host may connect to, then the referrals. Only the entries in the range
// asked for are encoded, so that a host reading the log piece by piece
// costs no more than the pieces. It returns false if off is beyond the
// log. A fault (Faults.DiscoveryChanges) may increment GENCTR afterwards.
func (t *Target) discoveryLog(q *conn, hostnqn string, off uint64, n int) ([]byte, bool) {
	const hdr, size = nvme.DiscoveryLogHeaderSize, nvme.DiscoveryEntrySize
	es, gen := t.discoveryEntries(q, hostnqn)
	if f := t.faults.Load(); t.discReads.Add(1) <= int64(f.DiscoveryChanges) {
		t.mu.Lock()
		t.genctr++
		t.mu.Unlock()
	}
	total := uint64(hdr + len(es)*size)
	if off > total {
		return nil, false
	}
	end := min(off+uint64(n), total)
	first, last := 0, 0 // the entries [first, last) overlap [off, end)
	if off > hdr {
		first = int((off - hdr) / size)
	}
	if end > hdr {
		last = int((end - hdr + size - 1) / size)
	}
	b := nvme.AppendDiscoveryLog(nil, gen, es[first:last])
	binary.LittleEndian.PutUint64(b[8:], uint64(len(es))) // NUMREC of the whole log
	// b is the header and entries [first, last): with first > 0, off lies
	// past the header, and the log's bytes from off on are b's from
	// off-skip on.
	skip := uint64(first * size)
	return clip(b[off-skip:end-skip], n), true
}

// discoveryEntries returns the entries of the discovery log the host
// hostnqn, connected through q, reads, and its GENCTR.
func (t *Target) discoveryEntries(q *conn, hostnqn string) ([]nvme.DiscoveryEntry, uint64) {
	asqsz := uint16(t.cfg.AdminQueueDepth)
	t.mu.RLock()
	defer t.mu.RUnlock()
	var es []nvme.DiscoveryEntry
	for _, p := range t.portsLocked() {
		ip, port := p.traddr(q.local)
		if ip == nil {
			continue // not a TCP listener
		}
		svc := strconv.Itoa(port)
		for _, s := range t.subs {
			if s.allowsLocked(hostnqn) {
				es = append(es, logEntry(subtypeNVM, p.id, asqsz, s.cfg.NQN, ip, svc))
			}
		}
	}
	for _, r := range t.referrals {
		es = append(es, r.entry(asqsz))
	}
	return es, t.genctr
}
