package multipath

import (
	"fmt"

	"github.com/complchain/complchain/nvme"
)

// A Path is a namespace as one controller of the subsystem reports it.
type Path struct {
	Controller int    // the controller instance C, of nvme<C>
	CNTLID     uint16 // the controller ID the subsystem gave it
	NSID       uint32
	IDs        nvme.NSIdentifiers // from the Namespace Identification Descriptor list, with Identify Namespace's NGUID and EUI64
	Shared     bool               // Identify Namespace NMIC bit 0: may be attached to several controllers
	ANAGRPID   uint32             // Identify Namespace ANAGRPID; 0 without ANA reporting
	ANAState   nvme.ANAState      // the state of ANAGRPID through this controller; 0 until known
}

// A Head is a namespace of a subsystem and the paths it is reachable by.
// The values Subsystem methods return are copies.
type Head struct {
	SubsystemNQN string
	Subsystem    int // the subsystem instance S
	NSID         uint32
	Instance     int // N, given by the naming policy
	IDs          nvme.NSIdentifiers
	Shared       bool
	Paths        []Path // by controller instance
}

// Name returns the head's name: nvme<S>n<N>.
func (h *Head) Name() string { return fmt.Sprintf("nvme%dn%d", h.Subsystem, h.Instance) }

// PathName returns the name of the head's path through controller
// instance ctrl: nvme<S>c<C>n<N>.
func (h *Head) PathName(ctrl int) string {
	return fmt.Sprintf("nvme%dc%dn%d", h.Subsystem, ctrl, h.Instance)
}

// clone returns a copy of h that shares nothing with it.
func (h *Head) clone() Head {
	c := *h
	c.Paths = append([]Path(nil), h.Paths...)
	return c
}

// idKeys returns the keys of the non-zero identifiers of ids, each of
// which no two NSIDs of a subsystem may share.
func idKeys(ids nvme.NSIdentifiers) []string {
	keys := make([]string, 0, 3)
	if ids.NGUID != [16]byte{} {
		keys = append(keys, Identity(0, nvme.NSIdentifiers{NGUID: ids.NGUID}))
	}
	if ids.EUI64 != [8]byte{} {
		keys = append(keys, Identity(0, nvme.NSIdentifiers{EUI64: ids.EUI64}))
	}
	if ids.UUID != [16]byte{} {
		keys = append(keys, Identity(0, nvme.NSIdentifiers{UUID: ids.UUID}))
	}
	return keys
}
