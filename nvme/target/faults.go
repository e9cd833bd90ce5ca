package target

import (
	"time"

	"github.com/complchain/complchain/nvme"
)

// Faults are failures the target injects. The zero value injects none.
type Faults struct {
	// Status is returned by every command that names the namespace:
	// Identify CNS 00h, 03h, 05h, 08h and I/O commands.
	Status map[uint32]nvme.Status
	// Delay is added to the service time of commands naming the namespace.
	Delay map[uint32]time.Duration
	// IdentifyDelay is added to the service time of the Identify commands
	// a host sends to identify the namespace (CNS 00h, 03h, 05h, 08h),
	// and of no other: a profile of these (ParseIdentifyDelay) makes an
	// asynchronously scanning host finish its namespaces out of order.
	IdentifyDelay map[uint32]time.Duration
	// Hang lists namespaces whose commands are never answered (until the
	// connection ends).
	Hang map[uint32]bool
	// DropAfter, when positive, closes a connection when it receives its
	// command number DropAfter+1: exactly DropAfter commands are served.
	DropAfter int
	// MalformedAfter, when positive, makes a connection send a PDU with an
	// invalid header in place of its response number MalformedAfter+1.
	MalformedAfter int
	// NoNSIDList makes Identify CNS 02h (the active NSID list) fail with
	// Invalid Field in Command and DNR, as on controllers that lack it, so
	// hosts must probe NSIDs one by one.
	NoNSIDList bool
	// Identify, if not nil, rewrites the answer to every Identify command,
	// so that tests can play a controller that returns nonsense. It gets
	// the command and what the target would answer: 4096 bytes of data,
	// or nil and a failure status. It returns the data and status to send
	// instead; data shorter than the command asks for is padded with
	// zeros. The returned slice belongs to the target afterwards: it may
	// be the one passed in, changed in place, or a new one, never one the
	// function keeps. It is called from the connection's goroutines and
	// must be safe for concurrent use.
	Identify func(cmd *nvme.Command, data []byte, st nvme.Status) ([]byte, nvme.Status)
	// DiscoveryChanges, when positive, increments the discovery log's
	// GENCTR after each of the next DiscoveryChanges Get Log Page commands
	// that read it (counted from New or SetFaults), as if the fabric
	// changed while a host reads the log in pieces. Target-wide only.
	DiscoveryChanges int
}

// SetFaults replaces the faults injected on every subsystem and
// connection (Config.Faults; Subsystem.SetFaults adds a subsystem's own);
// commands received afterwards see the new ones.
func (t *Target) SetFaults(f Faults) {
	t.discReads.Store(0)
	t.faults.Store(&f)
}
