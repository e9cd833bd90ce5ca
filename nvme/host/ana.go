package host

import (
	"context"
	"errors"
	"fmt"

	"github.com/complchain/complchain/nvme"
)

// MaxANALogSize is the largest Asymmetric Namespace Access log page, in
// bytes, the host reads: its length comes from the controller's
// NANAGRPID and MNAN, which are not trusted. 1 MiB holds the header,
// 1024 group descriptors and 253,000 NSIDs.
const MaxANALogSize = 1 << 20

// ErrNoANA is returned by ANALog for a controller whose Identify
// Controller CMIC bit 3 says it does not report ANA.
var ErrNoANA = errors.New("controller does not report asymmetric namespace access")

// ANASupported reports whether the controller reports Asymmetric
// Namespace Access (Identify Controller CMIC bit 3): it has an ANA log
// page, and each namespace's Identify Namespace ANAGRPID names its group.
func (c *Controller) ANASupported() bool { return c.id.CMIC&nvme.CMICANA != 0 }

// ANALogSize returns the length in bytes the host reads the ANA log page
// with, as Linux's nvme_mpath_init_identify computes it: the 16-byte
// header, NANAGRPID group descriptors of 32 bytes, and MNAN NSIDs of 4
// bytes (NN when MNAN is 0 or above NN). It returns a *nvme.FieldError
// naming NANAGRPID when that is 0 or the length would exceed
// MaxANALogSize.
func ANALogSize(id *nvme.IdentifyController) (int, error) {
	mnan := uint64(id.MNAN)
	if mnan == 0 || mnan > uint64(id.NN) {
		mnan = uint64(id.NN)
	}
	n := nvme.ANALogHeaderSize + uint64(id.NANAGRPID)*nvme.ANAGroupDescriptorSize + mnan*4
	switch {
	case id.NANAGRPID == 0:
		return 0, &nvme.FieldError{Structure: "Identify Controller", Field: "NANAGRPID", Reason: "no ANA group with ANA reporting"}
	case n > MaxANALogSize:
		return 0, &nvme.FieldError{Structure: "Identify Controller", Field: "NANAGRPID", Value: uint64(id.NANAGRPID),
			Reason: fmt.Sprintf("with %d NSIDs the ANA log would be %d bytes, more than %d", mnan, n, MaxANALogSize)}
	}
	return int(n), nil
}

// anaRead is the outcome of reading the ANA log.
type anaRead struct {
	log *nvme.ANALog
	err error
}

// readANA reads the ANA log and keeps the outcome for ANA.
func (c *Controller) readANA(ctx context.Context) {
	log, err := c.ANALog(ctx)
	c.ana.Store(&anaRead{log, err})
}

// ANA returns the ANA log last read: at bring-up, and again on each ANA
// change notice before the notice reaches Events. The error is that of
// the read (see ANALog); ErrNoANA if the controller does not report ANA.
// The log must not be modified.
func (c *Controller) ANA() (*nvme.ANALog, error) {
	r := c.ana.Load()
	if r == nil {
		return nil, fmt.Errorf("ANA log at %s: %w", c.addr, ErrNoANA)
	}
	return r.log, r.err
}

// ANALog reads the Asymmetric Namespace Access log page (LID 0Ch, NSID
// FFFFFFFFh, NSIDs included) at the length ANALogSize gives, as Linux
// reads it on each ANA change notice, and so clears the notice. The log
// is decoded with nvme.ANALog.UnmarshalBinary's checks, and a group above
// Identify Controller ANAGRPMAX is a *nvme.FieldError naming ANAGRPID, as
// Linux refuses it. It returns ErrNoANA if the controller does not report
// ANA.
func (c *Controller) ANALog(ctx context.Context) (*nvme.ANALog, error) {
	if !c.ANASupported() {
		return nil, fmt.Errorf("read ANA log at %s: %w", c.addr, ErrNoANA)
	}
	n, err := ANALogSize(&c.id)
	if err != nil {
		return nil, fmt.Errorf("read ANA log at %s: %w", c.addr, err)
	}
	buf := make([]byte, n)
	cmd := nvme.GetLogPageCommand(nvme.LogANA, nvme.NSIDAll, n, 0)
	if _, err := c.do(ctx, &cmd, buf); err != nil {
		return nil, fmt.Errorf("read ANA log at %s: %w", c.addr, err)
	}
	log := new(nvme.ANALog)
	if err := log.UnmarshalBinary(buf); err != nil {
		return nil, fmt.Errorf("read ANA log at %s: %w", c.addr, err)
	}
	for _, g := range log.Groups {
		if g.ANAGRPID > c.id.ANAGRPMAX {
			return nil, fmt.Errorf("read ANA log at %s: %w", c.addr, &nvme.FieldError{Structure: "ANA log", Field: "ANAGRPID",
				Value: uint64(g.ANAGRPID), Reason: fmt.Sprintf("above ANAGRPMAX %d", c.id.ANAGRPMAX)})
		}
	}
	return log, nil
}
