package host

import (
	"context"
	"errors"
	"fmt"

	"github.com/complchain/complchain/nvme"
)

// MaxDiscoveryRecords is the most records (NUMREC) a discovery log may
// hold: a log that claims more is refused with ErrTooManyRecords before
// anything is read or allocated for its entries. Linux's nvmet lists one
// record per (subsystem, port) pair a host may reach.
const MaxDiscoveryRecords = 4096

// DiscoveryLogRetries is how many times DiscoveryLog reads the log again
// when its generation counter changed while it was being read, as
// libnvme's nvmf_get_discovery_log does (its default max_retries).
const DiscoveryLogRetries = 10

// discoveryChunk is the number of records one Get Log Page reads: 16 KiB.
const discoveryChunk = 16

// Errors of DiscoveryLog.
var (
	// ErrTooManyRecords: the header's NUMREC is above MaxDiscoveryRecords.
	ErrTooManyRecords = errors.New("discovery log: too many records")
	// ErrLogChanging: GENCTR changed during every one of the
	// DiscoveryLogRetries+1 reads.
	ErrLogChanging = errors.New("discovery log: kept changing while read")
)

// DiscoveryLog is a discovery log page (log 70h) read whole.
type DiscoveryLog struct {
	GENCTR  uint64 // generation counter, the same before and after the entries were read
	Entries []nvme.DiscoveryEntry
}

// DiscoveryLog reads the discovery log page of c, a discovery controller
// (NVMe over Fabrics 1.1 section 5.3): the 1024-byte header first
// (GENCTR, NUMREC), then the NUMREC entries, discoveryChunk records per
// Get Log Page at increasing offsets, then the header again. If GENCTR or
// NUMREC changed meanwhile it starts over, at most DiscoveryLogRetries
// times, and then fails with ErrLogChanging. NUMREC above
// MaxDiscoveryRecords fails with ErrTooManyRecords. Errors name c's
// address.
func (c *Controller) DiscoveryLog(ctx context.Context) (*DiscoveryLog, error) {
	hdr := make([]byte, nvme.DiscoveryLogHeaderSize)
	chunk := make([]byte, discoveryChunk*nvme.DiscoveryEntrySize)
	var entries []nvme.DiscoveryEntry
	readHeader := func() (genctr, numrec uint64, err error) {
		cmd := nvme.GetLogPageCommand(nvme.LogDiscovery, 0, len(hdr), 0)
		if _, err := c.do(ctx, &cmd, hdr); err != nil {
			return 0, 0, fmt.Errorf("read discovery log header at %s: %w", c.addr, err)
		}
		genctr, numrec, _, err = nvme.ParseDiscoveryLog(hdr)
		return genctr, numrec, err
	}
	genctr, numrec, err := readHeader()
	for try := 0; err == nil; try++ {
		if numrec > MaxDiscoveryRecords {
			return nil, fmt.Errorf("%w: %s lists %d, at most %d taken", ErrTooManyRecords, c.addr, numrec, MaxDiscoveryRecords)
		}
		if entries == nil {
			entries = make([]nvme.DiscoveryEntry, 0, numrec)
		}
		entries = entries[:0]
		for i := uint64(0); i < numrec && err == nil; i += discoveryChunk {
			b := chunk[:min(numrec-i, discoveryChunk)*nvme.DiscoveryEntrySize]
			off := nvme.DiscoveryLogHeaderSize + i*nvme.DiscoveryEntrySize
			cmd := nvme.GetLogPageCommand(nvme.LogDiscovery, 0, len(b), off)
			if _, err = c.do(ctx, &cmd, b); err != nil {
				err = fmt.Errorf("read discovery log records %d.. at %s: %w", i, c.addr, err)
				break
			}
			entries = nvme.ParseDiscoveryEntries(entries, b)
		}
		if err != nil {
			break
		}
		gen2, num2, herr := readHeader()
		if herr != nil {
			return nil, herr
		}
		if gen2 == genctr && num2 == numrec {
			return &DiscoveryLog{GENCTR: genctr, Entries: entries}, nil
		}
		if try == DiscoveryLogRetries {
			return nil, fmt.Errorf("%w: %s, %d reads", ErrLogChanging, c.addr, try+1)
		}
		genctr, numrec = gen2, num2
	}
	return nil, err
}

// Discover connects to the discovery subsystem at addr, reads its
// discovery log page (70h) as DiscoveryLog does and disconnects. cfg's
// SubsystemNQN and KATO are ignored (the discovery NQN, no keep-alive).
func Discover(ctx context.Context, addr string, cfg Config) ([]nvme.DiscoveryEntry, error) {
	cfg.SubsystemNQN = nvme.DiscoveryNQN
	cfg.KATO = -1
	c, err := Connect(ctx, addr, cfg)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	log, err := c.DiscoveryLog(ctx)
	if err != nil {
		return nil, err
	}
	return log.Entries, nil
}
