package iscsi

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/complchain/complchain/scsi"
)

// Reject reasons (RFC 7143 §11.17.1).
const (
	rejectDataDigest    = 0x02
	rejectProtocol      = 0x04
	rejectNotSupported  = 0x05
	rejectInvalidField  = 0x09
	rejectOutOfResource = 0x0a
)

// maxImmediate bounds the immediate commands a session runs beside the
// CmdSN window; more are rejected.
const maxImmediate = 16

// errAborted ends a write whose Data-Out a Logout cut short.
var errAborted = errors.New("iscsi: write aborted by a logout")

// dataOutWait is a write command waiting for Data-Out under one TTT:
// ch carries its PDUs, done is closed when it stops taking them.
type dataOutWait struct {
	ch   chan *PDU
	done chan struct{}
}

// ffSession is a session in full feature phase on the target.
type ffSession struct {
	*tsession
	ctx     context.Context
	slots   chan struct{}
	wg      sync.WaitGroup // the pinger and the commands
	cmds    sync.WaitGroup // the commands
	mu      sync.Mutex
	r2t     map[uint32]*dataOutWait // Data-Out routing by TTT
	ttt     uint32                  // the last TTT handed out
	ping    uint32                  // TTT of the NOP-In ping unanswered, 0 if none
	logout  chan struct{}           // closed by a Logout Request: writes waiting for Data-Out are aborted
	text    []byte                  // SendTargets answer still to send
	textTTT uint32                  // the TTT its next piece is asked for with
	textAt  int
}

func (t *Target) serveConn(nc net.Conn) {
	ss := &tsession{t: t, c: newConn(nc, loginReadSize)}
	ss.c.in = Limits{MaxRecvDataSegmentLength: DefaultDataSegment}
	if err := ss.login(); err != nil {
		return
	}
	ss.c.growReads()
	ss.c.in = ss.params.limits()
	ss.c.in.MaxRecvDataSegmentLength = t.cfg.Params.MaxRecvDataSegmentLength
	ss.c.out = ss.params.limits()
	ctx, cancel := context.WithCancel(context.Background())
	f := &ffSession{tsession: ss, ctx: ctx, slots: make(chan struct{}, t.cfg.QueueDepth+maxImmediate), r2t: map[uint32]*dataOutWait{}, logout: make(chan struct{})}
	if t.cfg.NOPInInterval > 0 {
		f.wg.Go(f.pinger)
	}
	f.serve()
	cancel()
	nc.Close()
	f.wg.Wait()
}

// header fills the fields every target PDU carries: StatSN (advanced
// when status is true), ExpCmdSN and MaxCmdSN. It runs under the write
// lock, so StatSN follows the wire order.
func (f *ffSession) header(status bool) func(*PDU) {
	return func(p *PDU) {
		p.BHS.PutU32(offCmdSN, f.statSN)
		if status {
			f.statSN++
		}
		p.BHS.PutU32(offExpStatSN, f.firstSN+f.expected.Load())
		p.BHS.PutU32(offMaxCmdSN, f.firstSN+f.completed.Load()+uint32(f.t.cfg.QueueDepth)-1)
	}
}

func (f *ffSession) send(p *PDU, status bool) error { return f.c.write(p, f.header(status)) }

func (f *ffSession) reject(h *BHS, reason byte) error {
	p := &PDU{Data: h[:]}
	p.BHS.SetOpcode(OpReject, false)
	p.BHS[1] = FlagFinal
	p.BHS[2] = reason
	p.BHS.PutU32(offITT, ReservedTag)
	return f.send(p, true)
}

// rejectCommand rejects a SCSI Command, which then no longer counts
// against the CmdSN window.
func (f *ffSession) rejectCommand(h *BHS, reason byte) error {
	if !h.Immediate() {
		f.completed.Add(1)
	}
	return f.reject(h, reason)
}

// serve reads the initiator's PDUs until the connection ends, a PDU
// breaks the protocol, or the session logs out.
func (f *ffSession) serve() {
	for {
		p, err := f.c.read()
		var de *DigestError
		if errors.As(err, &de) && !de.Header && p != nil {
			if f.reject(&p.BHS, rejectDataDigest) != nil {
				return
			}
			continue
		}
		if err != nil {
			return
		}
		done, err := f.handle(p)
		if err != nil || done {
			return
		}
	}
}

func (f *ffSession) handle(p *PDU) (bool, error) {
	h := &p.BHS
	op := h.Opcode()
	if !h.Immediate() && (op == OpSCSICommand || op == OpTextReq || op == OpNOPOut && h.ITT() != ReservedTag || op == OpLogoutReq || op == OpTaskMgmtReq) {
		sn, exp := h.U32(offCmdSN), f.firstSN+f.expected.Load()
		if !inWindow(sn, exp, f.firstSN+f.completed.Load()+uint32(f.t.cfg.QueueDepth)-1) {
			return false, nil // outside the window: silently ignored (RFC 7143 §4.2.2.1)
		}
		if sn != exp {
			return false, &ProtocolError{Op: op, Reason: fmt.Sprintf("CmdSN %d, expected %d", sn, exp)}
		}
		f.expected.Add(1)
		if op != OpSCSICommand {
			f.completed.Add(1) // answered below, before the next PDU is read
		}
	}
	switch op {
	case OpSCSICommand:
		if f.discovery {
			return false, f.rejectCommand(h, rejectProtocol)
		}
		select {
		case f.slots <- struct{}{}:
		default:
			return false, f.rejectCommand(h, rejectOutOfResource)
		}
		f.cmds.Add(1)
		f.wg.Go(func() {
			defer f.cmds.Done()
			defer func() { <-f.slots }()
			if err := f.command(p); err != nil {
				f.c.nc.Close()
			}
		})
	case OpDataOut:
		f.mu.Lock()
		w := f.r2t[h.U32(offTTT)]
		f.mu.Unlock()
		if w == nil {
			return false, &ProtocolError{Op: op, Reason: fmt.Sprintf("TTT %#x of no R2T", h.U32(offTTT))}
		}
		select {
		case w.ch <- p:
		case <-w.done: // its command has all its data, or failed
			return false, &ProtocolError{Op: op, Reason: fmt.Sprintf("TTT %#x of an R2T already answered", h.U32(offTTT))}
		case <-f.ctx.Done():
		}
	case OpNOPOut:
		if h.ITT() == ReservedTag { // an answer to a ping
			f.mu.Lock()
			if h.U32(offTTT) == f.ping {
				f.ping = 0
			}
			f.mu.Unlock()
			return false, nil
		}
		r := &PDU{Data: p.Data[:min(len(p.Data), f.params.MaxXmitDataSegmentLength)]}
		r.BHS.SetOpcode(OpNOPIn, false)
		r.BHS[1] = FlagFinal
		r.BHS.SetLUN(h.LUN())
		r.BHS.PutU32(offITT, h.ITT())
		r.BHS.PutU32(offTTT, ReservedTag)
		return false, f.send(r, true)
	case OpTextReq:
		return false, f.textReq(p)
	case OpLogoutReq:
		close(f.logout) // this reader no longer takes Data-Out
		f.cmds.Wait()   // commands in flight are answered first
		r := &PDU{}
		r.BHS.SetOpcode(OpLogoutResp, false)
		r.BHS[1] = FlagFinal
		r.BHS.PutU32(offITT, h.ITT())
		f.send(r, true)
		return true, nil
	case OpTaskMgmtReq:
		r := &PDU{}
		r.BHS.SetOpcode(OpTaskMgmtResp, false)
		r.BHS[1] = FlagFinal
		r.BHS[2] = 5 // task management function not supported
		r.BHS.PutU32(offITT, h.ITT())
		return false, f.send(r, true)
	case OpSNACKReq:
		return false, f.reject(h, rejectNotSupported)
	default:
		f.reject(h, rejectProtocol)
		return false, &ProtocolError{Op: op, Reason: "not an initiator opcode of full feature phase"}
	}
	return false, nil
}

// nextTTT returns a new Target Transfer Tag, never ReservedTag; the
// reader (text) and the write commands (R2T) take them concurrently.
func (f *ffSession) nextTTT() uint32 {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ttt++
	if f.ttt == ReservedTag {
		f.ttt = 1
	}
	return f.ttt
}

// textReq answers SendTargets (RFC 7143 §12.3): in a discovery session
// every target, in a normal session its own, each at the portal the
// connection came to. An answer longer than MaxXmitDataSegmentLength
// goes in pieces with the C bit, each asked for by an empty request
// echoing the TTT.
func (f *ffSession) textReq(p *PDU) error {
	h := &p.BHS
	if h.U32(offTTT) == ReservedTag {
		pairs, err := ParseText(OpTextReq, p.Data)
		if err != nil {
			return f.reject(h, rejectInvalidField)
		}
		var ans []Pair
		asked := false
		for _, kv := range pairs {
			if kv.Key == "SendTargets" && asked {
				return f.reject(h, rejectInvalidField) // one list per request, not one per key
			}
			if kv.Key != "SendTargets" {
				ans = append(ans, Pair{kv.Key, valNotUnderstood})
				continue
			}
			asked = true
			addr := f.c.nc.LocalAddr().String() + ",1"
			for n := range f.t.cfg.Hosts {
				name := f.t.Name(n)
				if kv.Value == "All" && f.discovery || kv.Value == name || kv.Value == "" && name == f.name {
					ans = append(ans, Pair{"TargetName", name}, Pair{"TargetAddress", addr})
				}
			}
		}
		f.text, f.textAt = AppendText(nil, ans...), 0
	} else if h.U32(offTTT) != f.textTTT || f.text == nil {
		return f.reject(h, rejectInvalidField)
	}
	n := min(len(f.text)-f.textAt, f.params.MaxXmitDataSegmentLength)
	r := &PDU{Data: f.text[f.textAt : f.textAt+n]}
	f.textAt += n
	r.BHS.SetOpcode(OpTextResp, false)
	r.BHS.PutU32(offITT, h.ITT())
	if f.textAt < len(f.text) {
		r.BHS[1] = FlagContinue
		f.textTTT = f.nextTTT()
		r.BHS.PutU32(offTTT, f.textTTT)
	} else {
		r.BHS[1] = FlagFinal
		r.BHS.PutU32(offTTT, ReservedTag)
		f.text = nil
	}
	return f.send(r, true)
}

// command runs one SCSI Command on the host and sends its data and
// status. An error ends the session.
func (f *ffSession) command(p *PDU) error {
	h := &p.BHS
	edtl := int(h.U32(offTTT))
	lun, err := scsi.DecodeLUN(h[8:16])
	var resp scsi.Response
	switch {
	case err != nil:
		resp = senseResponse(scsi.SenseError{Key: scsi.SenseIllegalRequest, ASC: 0x25}) // LOGICAL UNIT NOT SUPPORTED
	case h[1]&FlagWrite != 0 && edtl > f.t.cfg.MaxWriteLength:
		resp = senseResponse(scsi.SenseError{Key: scsi.SenseIllegalRequest, ASC: 0x24}) // INVALID FIELD IN CDB
	case h[1]&FlagWrite != 0:
		if err := f.collect(p, edtl); err == errAborted {
			return nil // ended by the session's logout, without a response
		} else if err != nil {
			return err
		}
		fallthrough
	default:
		cdb := h[32:48]
		if resp, err = f.host.Command(f.ctx, scsi.Addr{LUN: lun}, cdb[:]); err != nil {
			return err
		}
		if resp.Status == 0xff { // no such target or LUN on the host
			resp = senseResponse(scsi.SenseError{Key: scsi.SenseIllegalRequest, ASC: 0x25})
		}
	}
	if !h.Immediate() {
		f.completed.Add(1) // the response opens the window by one
	}
	return f.respond(h, edtl, resp)
}

func senseResponse(e scsi.SenseError) scsi.Response {
	return scsi.Response{Status: scsi.StatusCheckCondition, Sense: scsi.AppendSense(nil, e)}
}

// respond sends resp's data in Data-In PDUs of at most
// MaxXmitDataSegmentLength bytes, with the status in the last one when
// the command succeeded without sense data, else in a SCSI Response.
func (f *ffSession) respond(req *BHS, edtl int, resp scsi.Response) error {
	data := resp.Data
	flags := byte(0)
	residual := 0
	if req[1]&FlagRead == 0 {
		data = nil
	}
	switch {
	case len(data) > edtl:
		data, flags, residual = data[:edtl], FlagOverflow, len(resp.Data)-edtl
	case len(data) < edtl && req[1]&FlagRead != 0:
		flags, residual = FlagUnder, edtl-len(data)
	}
	collapse := resp.Status == scsi.StatusGood && len(resp.Sense) == 0 && len(data) > 0
	mx := f.params.MaxXmitDataSegmentLength
	for sn, off := uint32(0), 0; off < len(data); sn++ {
		n := min(mx, len(data)-off)
		p := &PDU{Data: data[off : off+n]}
		p.BHS.SetOpcode(OpDataIn, false)
		last := off+n == len(data)
		p.BHS.PutU32(offITT, req.ITT())
		p.BHS.PutU32(offTTT, ReservedTag)
		p.BHS.PutU32(offDataSN, sn)
		p.BHS.PutU32(offOffset, uint32(off))
		if last && collapse {
			p.BHS[1] = FlagFinal | FlagStatus | flags
			p.BHS[3] = resp.Status
			p.BHS.PutU32(offResidual, uint32(residual))
		} else {
			p.BHS.SetLUN([8]byte(req[8:16]))
			if last {
				p.BHS[1] = FlagFinal
			}
		}
		if err := f.send(p, last && collapse); err != nil {
			return err
		}
		off += n
	}
	if collapse {
		return nil
	}
	r := &PDU{}
	if len(resp.Sense) > 0 {
		r.Data = binary.BigEndian.AppendUint16(nil, uint16(len(resp.Sense)))
		r.Data = append(r.Data, resp.Sense...)
	}
	r.BHS.SetOpcode(OpSCSIResponse, false)
	r.BHS[1] = FlagFinal | flags
	r.BHS[3] = resp.Status
	r.BHS.PutU32(offITT, req.ITT())
	r.BHS.PutU32(offResidual, uint32(residual))
	return f.send(r, true)
}

// collect receives a write command's data (RFC 7143 §11.7, §11.8):
// immediate data, then R2Ts of at most MaxBurstLength bytes, one at a
// time. The data is checked and dropped: the emulated hosts keep none.
// A Logout while it waits ends it with errAborted: closing the session
// terminates its tasks (RFC 7143 §11.14.1).
func (f *ffSession) collect(p *PDU, edtl int) error {
	h := &p.BHS
	got := len(p.Data)
	if got > edtl || got > f.params.FirstBurstLength || got > 0 && !f.params.ImmediateData {
		return &ProtocolError{Op: OpSCSICommand, Reason: fmt.Sprintf("%d bytes of immediate data", got)}
	}
	if !f.params.InitialR2T || h[1]&FlagFinal == 0 {
		return &ProtocolError{Op: OpSCSICommand, Reason: "unsolicited Data-Out: InitialR2T is Yes"}
	}
	w := &dataOutWait{ch: make(chan *PDU, 4), done: make(chan struct{})}
	ttt := f.nextTTT()
	f.mu.Lock()
	f.r2t[ttt] = w
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.r2t, ttt)
		f.mu.Unlock()
		close(w.done)
	}()
	for r2tsn := uint32(0); got < edtl; r2tsn++ {
		n := min(edtl-got, f.params.MaxBurstLength)
		r := &PDU{}
		r.BHS.SetOpcode(OpR2T, false)
		r.BHS[1] = FlagFinal
		r.BHS.SetLUN(h.LUN())
		r.BHS.PutU32(offITT, h.ITT())
		r.BHS.PutU32(offTTT, ttt)
		r.BHS.PutU32(offDataSN, r2tsn)
		r.BHS.PutU32(offOffset, uint32(got))
		r.BHS.PutU32(offResidual, uint32(n))
		if err := f.send(r, false); err != nil {
			return err
		}
		end := got + n
		for dataSN := uint32(0); got < end; dataSN++ {
			var d *PDU
			select {
			case d = <-w.ch:
			case <-f.logout:
				return errAborted
			case <-f.ctx.Done():
				return f.ctx.Err()
			}
			dh := &d.BHS
			switch {
			case dh.ITT() != h.ITT():
				return &ProtocolError{Op: OpDataOut, Reason: "ITT of another command"}
			case dh.U32(offDataSN) != dataSN || int(dh.U32(offOffset)) != got:
				return &ProtocolError{Op: OpDataOut, Reason: fmt.Sprintf("DataSN %d at offset %d, expected %d at %d", dh.U32(offDataSN), dh.U32(offOffset), dataSN, got)}
			case got+len(d.Data) > end:
				return &ProtocolError{Op: OpDataOut, Reason: "more data than the R2T asked for"}
			case (got+len(d.Data) == end) != (dh[1]&FlagFinal != 0):
				return &ProtocolError{Op: OpDataOut, Reason: "F bit not on the last Data-Out of the R2T"}
			}
			got += len(d.Data)
		}
	}
	return nil
}

// pinger sends a NOP-In every NOPInInterval while none is unanswered,
// and drops the connection when one stays unanswered NOPInTimeout.
func (f *ffSession) pinger() {
	tick := time.NewTicker(f.t.cfg.NOPInInterval)
	defer tick.Stop()
	var sent time.Time
	for seq := uint32(1); ; seq++ {
		var now time.Time
		select {
		case <-f.ctx.Done():
			return
		case now = <-tick.C:
		}
		f.mu.Lock()
		unanswered := f.ping != 0
		if !unanswered {
			f.ping = 0x80000000 | seq&0x7fffffff
		}
		ttt := f.ping
		f.mu.Unlock()
		if unanswered {
			if now.Sub(sent) >= f.t.cfg.NOPInTimeout {
				f.c.nc.Close()
				return
			}
			continue
		}
		sent = now
		p := &PDU{}
		p.BHS.SetOpcode(OpNOPIn, false)
		p.BHS[1] = FlagFinal
		p.BHS.PutU32(offITT, ReservedTag)
		p.BHS.PutU32(offTTT, ttt)
		if f.send(p, false) != nil {
			return
		}
	}
}
