package multipath

import (
	"errors"
	"fmt"

	"github.com/complchain/complchain/nvme"
)

// An IDMismatchError is a path whose namespace identifiers differ from
// those of the head with the same NSID in the same subsystem: another
// namespace, or a controller that reports it wrongly. The path is not
// joined to the head.
type IDMismatchError struct {
	SubsystemNQN string
	NSID         uint32
	Controller   int // the controller instance of the refused path
	Head, Path   nvme.NSIdentifiers
}

func (e *IDMismatchError) Error() string {
	return fmt.Sprintf("multipath: %s NSID %d: identifiers on controller %d differ from the namespace head's", e.SubsystemNQN, e.NSID, e.Controller)
}

// A DuplicateIDError is a namespace whose identifiers another NSID of the
// subsystem already has.
type DuplicateIDError struct {
	SubsystemNQN string
	NSID, Other  uint32
	Identity     string // the identifier both have, e.g. "nguid.…"
}

func (e *DuplicateIDError) Error() string {
	return fmt.Sprintf("multipath: %s NSID %d has the identifier %s of NSID %d", e.SubsystemNQN, e.NSID, e.Identity, e.Other)
}

// ErrNotShared is wrapped by the error of a path to a namespace that is
// already attached through another controller but whose Identify
// Namespace NMIC bit 0 says it may not be shared.
var ErrNotShared = errors.New("multipath: namespace not marked shared is on two controllers")

// ErrNoPath is wrapped by the error of a detach of a path that is not
// attached.
var ErrNoPath = errors.New("multipath: no such path")
