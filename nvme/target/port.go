package target

import (
	"cmp"
	"fmt"
	"maps"
	"net"
	"slices"
	"time"

	"github.com/complchain/complchain/nvme"
)

// PortConfig configures a port of a Target, served by ServePort.
type PortConfig struct {
	// PortID is the port's PORTID in the discovery log, 1..65535; 0
	// takes the smallest free one, so that ports served one after another
	// get 1, 2, … in that order.
	PortID uint16
	// ConnectDelay is added to each Connect that creates a controller
	// through the port, besides the subsystem's SubsystemConfig.ConnectDelay.
	ConnectDelay time.Duration
	// ANAStates gives ANA groups (1..MaxANAGroups) their state through
	// the port at start; a group not listed is optimized. Target.SetANAState
	// changes them while the port is served.
	ANAStates map[uint32]nvme.ANAState
}

// Port is a port of a Target: a listener with its PORTID, served while
// ServePort (or Serve, or Start's loop) runs on it.
type Port struct {
	id   uint16
	addr net.Addr // the listener's
	cfg  PortConfig
	ana  anaStates
}

// ID returns the port's PORTID.
func (p *Port) ID() uint16 { return p.id }

// Addr returns the address of the port's listener.
func (p *Port) Addr() net.Addr { return p.addr }

// Ports returns the ports served now, in PORTID order.
func (t *Target) Ports() []*Port {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.portsLocked()
}

func (t *Target) portsLocked() []*Port {
	ps := make([]*Port, 0, len(t.ports))
	for _, p := range t.ports {
		ps = append(ps, p)
	}
	slices.SortFunc(ps, func(a, b *Port) int { return cmp.Compare(a.id, b.id) })
	return ps
}

// addPort registers a port for ln; the discovery log lists it from now on.
func (t *Target) addPort(ln net.Listener, pc PortConfig) (*Port, error) {
	if pc.ConnectDelay < 0 {
		return nil, fmt.Errorf("%w: PortConfig.ConnectDelay %v is negative", ErrInvalidConfig, pc.ConnectDelay)
	}
	if err := checkANAStates(pc.ANAStates); err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	id := pc.PortID
	if id == 0 {
		for id = 1; t.ports[id] != nil; id++ {
			if id == 0xffff {
				return nil, fmt.Errorf("%w: no free PORTID", ErrInvalidConfig)
			}
		}
	} else if t.ports[id] != nil {
		return nil, fmt.Errorf("%w: PortConfig.PortID %d in use", ErrInvalidConfig, id)
	}
	p := &Port{id: id, addr: ln.Addr(), cfg: pc}
	if states := maps.Clone(pc.ANAStates); states != nil {
		p.ana.m.Store(&states)
	}
	if pc.ConnectDelay > 0 {
		t.connectDelays.Store(true)
	}
	t.ports[id] = p
	t.discoveryChangedLocked()
	return p, nil
}

// removePort unregisters p when its listener is no longer served.
func (t *Target) removePort(p *Port) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ports[p.id] == p {
		delete(t.ports, p.id)
		t.discoveryChangedLocked()
	}
}

// traddr returns the IP address and TCP port the discovery log gives for
// p to a host connected to local: the listener's IP, or for a wildcard
// listener the IP the host connected to, as Linux's nvmet does.
func (p *Port) traddr(local net.Addr) (ip net.IP, port int) {
	a, ok := p.addr.(*net.TCPAddr)
	if !ok {
		return nil, 0
	}
	ip = a.IP
	if l, ok := local.(*net.TCPAddr); ok && (ip == nil || ip.IsUnspecified()) {
		ip = l.IP
	}
	return ip, a.Port
}
