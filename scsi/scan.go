package scsi

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/complchain/complchain"
	"github.com/complchain/complchain/internal/ida"
	"github.com/complchain/complchain/scanmode"
	"github.com/complchain/complchain/trace"
)

// Device is a device found by a scan.
type Device struct {
	Addr     Addr
	Type     uint8
	Vendor   string
	Product  string
	Revision string
	Serial   string // VPD page 80h
	NAA      []byte // VPD page 83h, if any
	// Aliases are the disk's /dev/disk/by-id names as udev makes them
	// (ByID); disks only.
	Aliases  []string
	Capacity Capacity // disks only
	Name     string   // "sda", …, for disks; empty for other types
}

// A Transport carries CDBs to the logical units of one SCSI host: an
// emulated *Host, or an iSCSI session (package iscsi). Command runs cdb
// on the LUN at a (a.Host is the scanner's number for the host) and
// returns its status, data-in and sense data; an error is the
// transport's failure (ctx done, connection lost), not a SCSI status.
// A Transport that is also a fmt.Stringer names its host in errors (an
// iSCSI target name).
type Transport interface {
	Command(ctx context.Context, a Addr, cdb []byte) (Response, error)
}

// CommandError is the failure of one command of a scan.
type CommandError struct {
	Addr     Addr
	HostName string // the Transport's String, if it has one
	Command  string
	Err      error
}

func (e *CommandError) Error() string {
	host := fmt.Sprint(e.Addr.Host)
	if e.HostName != "" {
		host += " (" + e.HostName + ")"
	}
	return fmt.Sprintf("host %s: [%v] %s: %v", host, e.Addr, e.Command, e.Err)
}

func (e *CommandError) Unwrap() error { return e.Err }

// A Scanner scans hosts and names their disks. Its methods are safe for
// concurrent use; the zero Scanner scans in Ordered mode.
type Scanner struct {
	Mode scanmode.Mode // as Linux's scsi_mod.scan parameter
	// Timeout bounds each host's scan; a host that has not finished by
	// then is given up, its entry completed, and later hosts named.
	Timeout time.Duration
	Trace   *trace.Recorder // optional

	chain   complchain.Chain
	index   ida.IDA
	mu      sync.Mutex
	hosts   int
	devices []*Device
	errs    []error
	wg      sync.WaitGroup
}

type hostScan struct {
	complchain.Entry
	num  int
	host Transport
}

// AddHost registers h as the next host and scans it: in Sync mode before
// AddHost returns; otherwise in the background, like scsi_scan_host with
// async scanning. It returns the host number.
func (s *Scanner) AddHost(ctx context.Context, h Transport) int {
	s.mu.Lock()
	hs := &hostScan{num: s.hosts, host: h}
	s.hosts++
	s.chain.Add(&hs.Entry) // in registration order, under s.mu
	s.mu.Unlock()
	if s.Mode == scanmode.Sync {
		s.scan(ctx, hs)
		return hs.num
	}
	s.wg.Go(func() { s.scan(ctx, hs) })
	return hs.num
}

// WaitScans waits until every host added before the call has added its
// devices (the chain's Flush, as scsi_complete_async_scans), or ctx is
// done.
func (s *Scanner) WaitScans(ctx context.Context) error {
	return s.chain.Flush(ctx)
}

// Close waits for every background scan to return.
func (s *Scanner) Close() { s.wg.Wait() }

// Devices returns the devices added so far, in the order they were added.
func (s *Scanner) Devices() []*Device {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.devices)
}

// Errors returns the failures so far: *CommandError values.
func (s *Scanner) Errors() []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.errs)
}

func (s *Scanner) scan(ctx context.Context, hs *hostScan) {
	track := fmt.Sprintf("host%d", hs.num)
	start := time.Now()
	sctx, cancel := ctx, context.CancelFunc(func() {})
	if s.Timeout > 0 {
		sctx, cancel = context.WithTimeout(ctx, s.Timeout)
	}
	devs, errs := scanHost(sctx, hs.num, hs.host)
	cancel()
	scanned := time.Now()
	s.Trace.Span(track, "scan", start, scanned)
	if s.Mode != scanmode.Ordered {
		s.add(track, devs, errs)
		hs.Complete() // a host that fails never stalls the others
		return
	}
	// The host does not wait for its turn: whichever host completes its
	// last predecessor adds its devices, so hosts that finish in order
	// add theirs back to back with no goroutine parked and woken.
	hs.Then(func() {
		s.Trace.Span(track, "wait for chain", scanned, time.Now())
		if err := ctx.Err(); err != nil {
			errs = append(errs, &CommandError{Addr: Addr{Host: hs.num}, Command: "wait for earlier hosts", Err: err})
			devs = nil
		}
		s.add(track, devs, errs)
	})
}

// add names the disks of devs and adds devs and errs to the results.
func (s *Scanner) add(track string, devs []*Device, errs []error) {
	added := time.Now()
	s.mu.Lock()
	for _, d := range devs {
		if d.Type == TypeDisk {
			d.Name = DiskName(s.index.Get(0))
		}
		s.devices = append(s.devices, d)
	}
	s.errs = append(s.errs, errs...)
	s.mu.Unlock()
	s.Trace.Span(track, fmt.Sprintf("add %d devices", len(devs)), added, time.Now())
}

// errSelection is a target that did not answer selection.
var errSelection = errors.New("selection timeout")

// Unit attention retries, as Linux's: a command that ends in CHECK
// CONDITION with sense key UNIT ATTENTION is sent again up to uaRetries
// times (scsi_probe_lun's and sd's retries). A REPORTED LUNS DATA HAS
// CHANGED unit attention (3Fh/0Eh) seen during a target's scan makes the
// scan ask REPORT LUNS again and scan the LUNs it did not know, up to
// maxRescans times (scsi_scan_target after the event).
const (
	uaRetries          = 3
	maxRescans         = 3
	senseUnitAttention = 0x6
)

// scanHost finds the devices of host num: REPORT LUNS on LUN 0 of each
// target (or LUNs 0 to 7 in turn, up to the first with no logical unit,
// if the target refuses it), then for each LUN INQUIRY, VPD pages 80h and
// 83h, and READ CAPACITY(16) for disks. A LUN whose INQUIRY says there is
// no logical unit is skipped; a LUN that fails or answers nonsense, and a
// REPORT LUNS entry that cannot be used, are reported and skipped, and the
// target's other LUNs scanned; a host that fails (or times out) is
// reported with what it found before.
func scanHost(ctx context.Context, num int, h Transport) ([]*Device, []error) {
	var (
		devs     []*Device
		errs     []error
		changed  bool // a REPORTED LUNS DATA HAS CHANGED unit attention was seen
		hostName string
	)
	if n, ok := h.(fmt.Stringer); ok {
		hostName = n.String()
	}
	run := func(a Addr, name string, cdb []byte) ([]byte, error) {
		var (
			r   Response
			err error
		)
		for try := 0; ; try++ {
			r, err = h.Command(ctx, a, cdb)
			if err != nil || r.Status != StatusCheckCondition || try == uaRetries {
				break
			}
			sense, perr := ParseSense(r.Sense)
			if perr != nil || sense.Key != senseUnitAttention {
				break
			}
			if sense.ASC == 0x3f && sense.ASCQ == 0x0e {
				changed = true
			}
		}
		switch {
		case err != nil:
		case r.Status == 0xff:
			err = errSelection
		case r.Status == StatusCheckCondition:
			sense, perr := ParseSense(r.Sense)
			if err = perr; perr == nil {
				err = sense
			}
		case r.Status != StatusGood:
			err = fmt.Errorf("status %#x", r.Status)
		}
		if err != nil {
			return nil, &CommandError{Addr: a, HostName: hostName, Command: name, Err: err}
		}
		return r.Data, nil
	}
	channels, targets, pdt1FNoLUN := 1, 1, false
	if eh, ok := h.(*Host); ok {
		channels, targets, _ = eh.dims()
		pdt1FNoLUN = eh.PDT1FNoLUN
	}
	for ch := range channels {
		for tg := range targets {
			a := Addr{Host: num, Channel: ch, Target: tg}
			luns, sequential, err := reportLUNs(a, run)
			if errors.Is(err, errSelection) {
				continue
			}
			if err != nil {
				errs = append(errs, err)
				if ctx.Err() != nil {
					return devs, errs
				}
			}
			var scanned map[uint16]bool // made only for a rescan
			for rescan := 0; ; rescan++ {
				changed = false
				for _, lun := range luns {
					a.LUN = lun
					d, err := scanLUN(a, pdt1FNoLUN, run)
					if sequential && d == nil && err == nil {
						break // the first LUN with no device ends a sequential scan
					}
					if err != nil {
						errs = append(errs, err)
						if ctx.Err() != nil {
							return devs, errs
						}
						continue
					}
					if d != nil {
						devs = append(devs, d)
					}
				}
				if !changed || sequential || rescan == maxRescans {
					break
				}
				if scanned == nil {
					scanned = make(map[uint16]bool, len(luns))
				}
				for _, lun := range luns {
					scanned[lun] = true
				}
				a.LUN = 0
				if luns, _, err = reportLUNs(a, run); err != nil {
					errs = append(errs, err)
					if ctx.Err() != nil {
						return devs, errs
					}
				}
				var fresh []uint16 // not in place: luns may be sequentialLUNs
				for _, lun := range luns {
					if !scanned[lun] {
						fresh = append(fresh, lun)
					}
				}
				luns = fresh
			}
		}
	}
	return devs, errs
}

// sequentialLUNs are the LUNs probed on a target that refuses REPORT LUNS:
// 0 to 7, the LUNs of SCSI-2, as Linux's scsi_sequential_lun_scan for
// devices below SCSI-3.
var sequentialLUNs = []uint16{0, 1, 2, 3, 4, 5, 6, 7}

// reportLUNs returns the LUNs of the target at a from REPORT LUNS, with
// an error for entries dropped; or, if the target refuses the command
// (ILLEGAL REQUEST), sequentialLUNs and true.
func reportLUNs(a Addr, run func(Addr, string, []byte) ([]byte, error)) ([]uint16, bool, error) {
	data, err := run(a, "REPORT LUNS", ReportLUNsCDB(MaxLUNs*8+8))
	var sense *SenseError
	if errors.As(err, &sense) && sense.Key == SenseIllegalRequest {
		return sequentialLUNs, true, nil
	}
	if err != nil {
		return nil, false, err
	}
	luns, err := ParseReportLUNs(data[:min(len(data), MaxLUNs*8+8)]) // no more than asked for
	if err != nil {
		err = &CommandError{Addr: a, Command: "REPORT LUNS", Err: err}
	}
	return luns, false, err
}

// scanLUN identifies the LUN at a: nil and no error if there is no logical
// unit (Inquiry.NoLUN).
func scanLUN(a Addr, pdt1FNoLUN bool, run func(Addr, string, []byte) ([]byte, error)) (*Device, error) {
	data, err := run(a, "INQUIRY", InquiryCDB(false, 0, InquiryLen))
	if err != nil {
		return nil, err
	}
	inq, err := ParseInquiry(data)
	if err != nil {
		return nil, &CommandError{Addr: a, Command: "INQUIRY", Err: err}
	}
	if inq.NoLUN(pdt1FNoLUN) {
		return nil, nil
	}
	d := &Device{Addr: a, Type: inq.Type, Vendor: inq.Vendor, Product: inq.Product, Revision: inq.Revision}
	vpd80, err := run(a, "INQUIRY VPD 80h", InquiryCDB(true, 0x80, 255))
	if err != nil {
		return nil, err
	}
	if d.Serial, err = ParseSerialVPD(vpd80); err != nil {
		return nil, &CommandError{Addr: a, Command: "INQUIRY VPD 80h", Err: err}
	}
	vpd83, err := run(a, "INQUIRY VPD 83h", InquiryCDB(true, 0x83, 255))
	if err != nil {
		return nil, err
	}
	if naa, ok, err := ParseDeviceIDVPD(vpd83); err != nil {
		return nil, &CommandError{Addr: a, Command: "INQUIRY VPD 83h", Err: err}
	} else if ok {
		d.NAA = slices.Clone(naa)
	}
	if d.Type == TypeDisk {
		d.Aliases = ByID(data, vpd80, vpd83)
		if data, err = run(a, "READ CAPACITY(16)", ReadCapacity16CDB(32)); err != nil {
			return nil, err
		}
		if d.Capacity, err = ParseCapacity16(data); err != nil {
			return nil, &CommandError{Addr: a, Command: "READ CAPACITY(16)", Err: err}
		}
	}
	return d, nil
}
