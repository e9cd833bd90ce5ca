package fabric

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"

	"github.com/complchain/complchain/nvme"
)

// A Port is an NVM subsystem port to connect to: a discovery log entry, or
// an address and NQN given directly.
type Port struct {
	Addr string // host:port dialled
	NQN  string // subsystem NQN (SUBNQN)
	// ASQSZ is the entry's admin submission queue size, 0 if given
	// directly (see host.Config.ASQSZ).
	ASQSZ int
	// Advertised is TRADDR:TRSVCID as the log listed it, and From the
	// address of the discovery controller whose log listed it; both empty
	// for a port given directly.
	Advertised, From string
}

// PortError reports a port, or a discovery controller, or a discovery log
// entry, that yielded no controller: one line naming the address, the
// NQN and the cause.
type PortError struct {
	Addr, NQN string
	Err       error
}

func (e *PortError) Error() string { return fmt.Sprintf("%s at %s: %v", e.NQN, e.Addr, e.Err) }
func (e *PortError) Unwrap() error { return e.Err }

// Causes of a *PortError found in a discovery log.
var (
	ErrReferralLoop = errors.New("referral loop: refers back to a discovery controller that led to it")
	ErrDuplicate    = errors.New("duplicate entry: same SUBNQN and address as an earlier one, skipped")
	ErrUnusable     = errors.New("unusable entry")
	ErrTooManyLogs  = errors.New("too many discovery controllers")
)

// entryAddr returns the address an NVMe/TCP entry advertises,
// TRADDR:TRSVCID, or an error wrapping ErrUnusable.
func entryAddr(e *nvme.DiscoveryEntry) (string, error) {
	if e.TransportType != nvme.TransportTCP {
		return "", fmt.Errorf("%w: transport type %d, not TCP", ErrUnusable, e.TransportType)
	}
	ip, err := netip.ParseAddr(e.Address)
	if err != nil || ip.Zone() != "" {
		return "", fmt.Errorf("%w: TRADDR %q is not an IP address", ErrUnusable, e.Address)
	}
	port, err := strconv.ParseUint(e.ServiceID, 10, 16)
	if err != nil || port == 0 {
		return "", fmt.Errorf("%w: TRSVCID %q is not a port number", ErrUnusable, e.ServiceID)
	}
	return net.JoinHostPort(ip.Unmap().String(), strconv.FormatUint(port, 10)), nil
}

// canonicalAddr returns host:port addr spelled one way, so that one
// address compares equal however it was written: an IP address in its
// shortest form, an IPv4-mapped IPv6 address (::ffff:a.b.c.d) as IPv4,
// the port without leading zeros. A host name, or anything that is not
// host:port, is returned unchanged.
func canonicalAddr(addr string) string {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	port, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		return addr
	}
	if ip, err := netip.ParseAddr(h); err == nil {
		h = ip.Unmap().String()
	}
	return net.JoinHostPort(h, strconv.FormatUint(port, 10))
}

// Dedup returns ports without the repeats of an earlier port: the same
// NQN at the same address, addresses compared as one spelling (an
// IPv4-mapped IPv6 address as IPv4, the port without leading zeros). Each
// repeat is reported by a *PortError wrapping ErrDuplicate, in order.
func Dedup(ports []Port) ([]Port, []error) {
	var out []Port
	var dups []error
	seen := make(map[[2]string]bool, len(ports))
	for _, p := range ports {
		k := [2]string{p.NQN, canonicalAddr(p.Addr)}
		if seen[k] {
			dups = append(dups, &PortError{Addr: p.Addr, NQN: p.NQN, Err: ErrDuplicate})
			continue
		}
		seen[k] = true
		out = append(out, p)
	}
	return out, dups
}
