package scsi

import (
	"context"
	"fmt"
	"time"
)

// Addr is a device address: host, channel, target, LUN.
type Addr struct {
	Host, Channel, Target int
	LUN                   uint16
}

func (a Addr) String() string { return fmt.Sprintf("%d:%d:%d:%d", a.Host, a.Channel, a.Target, a.LUN) }

// A Host is an emulated SCSI host adapter, like Linux's scsi_debug: its
// channels, targets and LUNs answer CDBs after Latency. The zero Host has
// one channel, one target and one disk LUN.
type Host struct {
	Channels, Targets, LUNs int           // per host, channel, target; 0 means 1
	Latency                 time.Duration // per command
	Type                    uint8         // peripheral device type of every LUN
	Vendor, Product, Rev    string
	BlockSize               uint32 // 0 means 512
	Blocks                  uint64 // 0 means 32768 (16 MiB of 512-byte blocks)

	// Fail makes commands to these LUNs (other than REPORT LUNS) end in
	// CHECK CONDITION with this sense.
	Fail map[Addr]SenseError
	// Hang makes the host never answer: commands wait until ctx is done.
	Hang bool
	// Corrupt makes the host answer INQUIRY with truncated data.
	Corrupt bool
	// NoReportLUNs makes the host refuse REPORT LUNS as SCSI-2 devices do
	// (ILLEGAL REQUEST, invalid command operation code).
	NoReportLUNs bool
	// PDT1FNoLUN tells the scan that device type 1Fh means no LUN
	// whatever the qualifier, as Linux's pdt_1f_for_no_lun for USB UFI.
	PDT1FNoLUN bool
	// Respond, if not nil, rewrites every response, so that tests can play
	// a device that answers nonsense: it gets the LUN's address, the CDB
	// and the host's response, and returns the response to deliver. It
	// must be safe for concurrent use.
	Respond func(a Addr, cdb []byte, r Response) Response
}

func (h *Host) dims() (channels, targets, luns int) {
	return max(h.Channels, 1), max(h.Targets, 1), max(h.LUNs, 1)
}

// Response is the outcome of a command.
type Response struct {
	Status byte
	Data   []byte // data-in, at most the allocation length
	Sense  []byte // with StatusCheckCondition
}

// Command executes cdb on the LUN at a (a.Host is ignored) and returns its
// response after the host's latency, or ctx.Err().
func (h *Host) Command(ctx context.Context, a Addr, cdb []byte) (Response, error) {
	if h.Hang {
		<-ctx.Done()
		return Response{}, ctx.Err()
	}
	if h.Latency > 0 {
		t := time.NewTimer(h.Latency)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return Response{}, ctx.Err()
		}
	}
	r := h.execute(a, cdb)
	if h.Respond != nil {
		r = h.Respond(a, cdb, r)
	}
	return r, nil
}

func checkCondition(e SenseError) Response {
	return Response{Status: StatusCheckCondition, Sense: AppendSense(nil, e)}
}

var (
	invalidOpcode = SenseError{Key: SenseIllegalRequest, ASC: 0x20}
	invalidField  = SenseError{Key: SenseIllegalRequest, ASC: 0x24}
	noSuchLUN     = SenseError{Key: SenseIllegalRequest, ASC: 0x25}
)

func (h *Host) execute(a Addr, cdb []byte) Response {
	channels, targets, luns := h.dims()
	if len(cdb) < 6 {
		return checkCondition(invalidField)
	}
	if a.Channel >= channels || a.Target >= targets {
		return Response{Status: 0xff} // selection timeout: no such target
	}
	clip := func(b []byte, n int) Response { return Response{Data: b[:min(len(b), n)]} }
	if cdb[0] == OpReportLUNs {
		if h.NoReportLUNs {
			return checkCondition(invalidOpcode)
		}
		if len(cdb) < 12 {
			return checkCondition(invalidField)
		}
		list := make([]uint16, luns)
		for i := range list {
			list[i] = uint16(i)
		}
		return clip(AppendReportLUNs(nil, list), DataInLength(cdb))
	}
	if sense, ok := h.Fail[Addr{Channel: a.Channel, Target: a.Target, LUN: a.LUN}]; ok {
		return checkCondition(sense)
	}
	present := int(a.LUN) < luns
	switch cdb[0] {
	case OpInquiry:
		n := DataInLength(cdb)
		if cdb[1]&1 == 0 {
			q := Inquiry{Type: h.Type, Version: 7, Vendor: h.Vendor, Product: h.Product, Revision: h.Rev}
			if !present {
				q = Inquiry{Qualifier: 3, Type: TypeNoLUN}
			}
			data := AppendInquiry(nil, q)
			if h.Corrupt {
				data = data[:20]
			}
			return clip(data, n)
		}
		if !present {
			return checkCondition(noSuchLUN)
		}
		switch cdb[2] {
		case 0x80:
			return clip(AppendSerialVPD(nil, h.Type, fmt.Sprintf("SN%02d%02d%05d", a.Channel, a.Target, a.LUN)), n)
		case 0x83:
			naa := [8]byte{0x53, 0x33, 0x33, 0x30, byte(a.Channel), byte(a.Target), byte(a.LUN >> 8), byte(a.LUN)}
			return clip(AppendDeviceIDVPD(nil, h.Type, naa), n)
		}
		return checkCondition(invalidField)
	case OpServiceIn16:
		if len(cdb) < 16 || cdb[1]&0x1f != saReadCapacity16 {
			return checkCondition(invalidOpcode)
		}
		if !present {
			return checkCondition(noSuchLUN)
		}
		bs, blocks := h.BlockSize, h.Blocks
		if bs == 0 {
			bs = 512
		}
		if blocks == 0 {
			blocks = 32768
		}
		return clip(AppendCapacity16(nil, Capacity{LastLBA: blocks - 1, BlockSize: bs}), DataInLength(cdb))
	case OpTestUnitReady:
		if !present {
			return checkCondition(noSuchLUN)
		}
		return Response{}
	}
	return checkCondition(invalidOpcode)
}
