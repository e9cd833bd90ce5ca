package target

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/complchain/complchain/nvme"
)

// ErrNoHost is returned by DisallowHost for a host not allowed.
var ErrNoHost = errors.New("target: host not in the allowed hosts")

// hostSet is a subsystem's access control, as Linux nvmet's
// allow_any_host and allowed_hosts: any host, or the listed ones. t.mu
// guards it.
type hostSet struct {
	any   bool
	hosts map[string]bool
}

// checkNQN returns an error, which reads after the NQN's name, unless
// nqn is an NQN as a Connect or a discovery log entry carries it: 1 to
// nvme.MaxNQNLen bytes of UTF-8 without NUL (NVMe Base Specification,
// "NVMe Qualified Names"), so that it can be matched against a
// Connect's NUL-terminated field and listed in JSON as it is.
func checkNQN(nqn string) error {
	switch {
	case nqn == "":
		return errors.New("is empty")
	case len(nqn) > nvme.MaxNQNLen:
		return fmt.Errorf("is %d bytes long, at most %d", len(nqn), nvme.MaxNQNLen)
	case !utf8.ValidString(nqn):
		return errors.New("is not UTF-8")
	case strings.IndexByte(nqn, 0) >= 0:
		return errors.New("holds a NUL byte")
	}
	return nil
}

// checkHosts checks a list of allowed host NQNs; field names it in errors.
func checkHosts(hosts []string, field string) error {
	seen := make(map[string]bool, len(hosts))
	for i, h := range hosts {
		if err := checkNQN(h); err != nil {
			return fmt.Errorf("%w: %sAllowedHosts[%d] %w", ErrInvalidConfig, field, i, err)
		}
		if seen[h] {
			return fmt.Errorf("%w: %sAllowedHosts[%d] %q given twice", ErrInvalidConfig, field, i, h)
		}
		seen[h] = true
	}
	return nil
}

// allowsLocked reports whether host may connect to s. t.mu is held.
func (s *Subsystem) allowsLocked(host string) bool { return s.access.any || s.access.hosts[host] }

// allows reports whether host may connect to s.
func (s *Subsystem) allows(host string) bool {
	s.t.mu.RLock()
	defer s.t.mu.RUnlock()
	return s.allowsLocked(host)
}

// AllowedHosts returns the host NQNs allowed to connect, sorted, and
// whether any host may.
func (s *Subsystem) AllowedHosts() (hosts []string, anyHost bool) {
	s.t.mu.RLock()
	defer s.t.mu.RUnlock()
	return slices.Sorted(maps.Keys(s.access.hosts)), s.access.any
}

// AllowHost allows host to connect; the subsystem no longer allows any
// host, only those allowed. The discovery log's GENCTR increments.
// Controllers already connected stay, as with Linux's nvmet.
func (s *Subsystem) AllowHost(host string) error {
	if err := checkHosts([]string{host}, ""); err != nil {
		return err
	}
	s.t.mu.Lock()
	defer s.t.mu.Unlock()
	s.access.any = false
	s.access.hosts[host] = true
	s.t.discoveryChangedLocked()
	return nil
}

// DisallowHost removes host from the allowed hosts: its next Connect
// fails with Connect Invalid Host; controllers already connected stay.
// Removing the last host leaves a subsystem no host may connect to. It
// returns ErrNoHost if host was not allowed.
func (s *Subsystem) DisallowHost(host string) error {
	s.t.mu.Lock()
	defer s.t.mu.Unlock()
	if !s.access.hosts[host] {
		return fmt.Errorf("%w: %q", ErrNoHost, host)
	}
	delete(s.access.hosts, host)
	s.t.discoveryChangedLocked()
	return nil
}

// AllowAnyHost lets any host connect, whatever hosts are allowed.
func (s *Subsystem) AllowAnyHost() {
	s.t.mu.Lock()
	defer s.t.mu.Unlock()
	if !s.access.any {
		s.access.any = true
		s.t.discoveryChangedLocked()
	}
}
