package iscsi

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/complchain/complchain/scanmode"
	"github.com/complchain/complchain/scsi"
)

// dropListener closes each accepted connection after it has written
// limit bytes: a target that drops its sessions mid-scan.
type dropListener struct {
	net.Listener
	limit int64
}

type dropConn struct {
	net.Conn
	left atomic.Int64
}

func (l *dropListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	d := &dropConn{Conn: c}
	d.left.Store(l.limit)
	return d, nil
}

func (c *dropConn) Write(b []byte) (int, error) {
	if c.left.Add(-int64(len(b))) < 0 {
		c.Conn.Close()
		return 0, net.ErrClosed
	}
	return c.Conn.Write(b)
}

// A scan over targets that fail in each way reports the failing target
// and LUN by name, names every other disk in host order, leaks nothing
// and ends within its time-out.
func TestHostileTargets(t *testing.T) {
	good := func() *scsi.Host { return &scsi.Host{LUNs: 3, Vendor: "V", Product: "P"} }
	tests := []struct {
		name    string
		bad     *scsi.Host
		drop    int64 // bytes the bad target writes before dropping the connection
		cfg     Config
		tcfg    TargetConfig
		wantErr string // in the errors, which must name host 1's target
		devices int    // of the bad host
	}{
		{name: "check condition forever", bad: &scsi.Host{LUNs: 3, Fail: map[scsi.Addr]scsi.SenseError{{LUN: 1}: {Key: scsi.SenseMediumError, ASC: 0x11}}},
			wantErr: "[1:0:0:1] INQUIRY: CHECK CONDITION: MEDIUM ERROR, ASC/ASCQ 11h/00h", devices: 2},
		{name: "unit attention forever", bad: &scsi.Host{LUNs: 3, Fail: map[scsi.Addr]scsi.SenseError{{LUN: 2}: {Key: 6, ASC: 0x29}}},
			wantErr: "[1:0:0:2] INQUIRY: CHECK CONDITION: UNIT ATTENTION, ASC/ASCQ 29h/00h", devices: 2},
		{name: "login never completes", bad: &scsi.Host{LUNs: 3, Hang: true},
			wantErr: "[1:0:0:0] REPORT LUNS: iscsi: login to iqn.2026-01.io.example:host0 at", devices: 0},
		{name: "session dropped mid-scan", bad: &scsi.Host{LUNs: 3}, drop: 1200,
			wantErr: "iscsi: session closed", devices: 2},
		{name: "wrong CHAP secret", bad: &scsi.Host{LUNs: 3}, cfg: Config{CHAP: &CHAP{Name: "u", Secret: "wrong secret"}},
			tcfg: TargetConfig{CHAP: &CHAP{Name: "u", Secret: "right secret"}}, wantErr: "status 0201 (authentication failure)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, goodAddr := startTarget(t, TargetConfig{Hosts: []*scsi.Host{good(), good()}})
			tcfg := tt.tcfg
			tcfg.Hosts = []*scsi.Host{tt.bad}
			bad := NewTarget(tcfg)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			var l net.Listener = ln
			if tt.drop > 0 {
				l = &dropListener{Listener: ln, limit: tt.drop}
			}
			go bad.Serve(l)
			defer bad.Close()
			const timeout = 3 * time.Second // ample for the good hosts on a loaded machine
			s := &scsi.Scanner{Mode: scanmode.Ordered, Timeout: timeout}
			hosts := []*Host{
				NewHost(goodAddr, Config{TargetName: DefaultNamePrefix + "0"}),
				NewHost(ln.Addr().String(), Config{TargetName: DefaultNamePrefix + "0", CHAP: tt.cfg.CHAP}),
				NewHost(goodAddr, Config{TargetName: DefaultNamePrefix + "1"}),
			}
			start := time.Now()
			for _, h := range hosts {
				s.AddHost(t.Context(), h)
			}
			if err := s.WaitScans(t.Context()); err != nil {
				t.Fatal(err)
			}
			s.Close()
			if d := time.Since(start); d > timeout+2*time.Second {
				t.Errorf("scan took %v, time-out %v", d, timeout)
			}
			for _, h := range hosts {
				ctx, cancel := context.WithTimeout(t.Context(), time.Second)
				h.Close(ctx)
				cancel()
			}
			var msgs []string
			for _, e := range s.Errors() {
				msgs = append(msgs, e.Error())
				var ce *scsi.CommandError
				if !errors.As(e, &ce) || ce.Addr.Host != 1 || ce.HostName != DefaultNamePrefix+"0" {
					t.Errorf("error not naming host 1's target: %v", e)
				}
			}
			if all := strings.Join(msgs, "\n"); !strings.Contains(all, tt.wantErr) {
				t.Errorf("errors:\n%s\nwant one containing %q", all, tt.wantErr)
			}
			perHost := map[int]int{}
			for i, d := range s.Devices() {
				perHost[d.Addr.Host]++
				if d.Name != scsi.DiskName(i) {
					t.Errorf("device %d (%v) named %s", i, d.Addr, d.Name)
				}
			}
			if perHost[0] != 3 || perHost[2] != 3 || perHost[1] < tt.devices {
				t.Errorf("devices per host %v, want 3, ≥%d, 3", perHost, tt.devices)
			}
		})
	}
}

// rawLogin sends one Login Request with text to a target and returns
// its answer, or the read error.
func rawLogin(t *testing.T, addr string, h BHS, data []byte) (*PDU, error) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	p := &PDU{BHS: h, Data: data}
	if _, err := c.Write(AppendPDU(nil, p, Limits{})); err != nil {
		return nil, err
	}
	return ReadPDU(c, Limits{MaxRecvDataSegmentLength: MaxDataSegment})
}

// Malformed logins end in a Login Response with the RFC's status, or a
// closed connection, never a hang.
func TestMalformedLogin(t *testing.T) {
	_, addr := startTarget(t, TargetConfig{Hosts: []*scsi.Host{{}}, LoginTimeout: 2 * time.Second})
	login := func() BHS {
		var h BHS
		h.SetOpcode(OpLoginReq, true)
		h[1] = FlagTransit | StageOperational
		return h
	}
	text := func(s string) []byte { return []byte(strings.ReplaceAll(s, " ", "\x00") + "\x00") }
	tests := []struct {
		name   string
		h      func() BHS
		data   []byte
		status uint16 // 0: the connection is closed without answer
	}{
		{"unknown target", login, text("InitiatorName=iqn.x TargetName=iqn.nobody"), 0x0203},
		{"no initiator name", login, text("TargetName=" + DefaultNamePrefix + "0"), 0x0207},
		{"item without =", login, text("InitiatorName=iqn.x garbage"), 0x0200},
		{"key twice", login, text("InitiatorName=iqn.x InitiatorName=iqn.y"), 0x0200},
		{"value not UTF-8", login, []byte("InitiatorName=\xff\x00"), 0x0200},
		{"bad session type", login, text("InitiatorName=iqn.x SessionType=Other"), 0x0209},
		{"not a login", func() BHS { h := login(); h.SetOpcode(OpSCSICommand, false); return h }, nil, 0x020b},
		{"version", func() BHS { h := login(); h[3] = 1; return h }, text("InitiatorName=iqn.x"), 0x0205},
		{"TSIH of no session", func() BHS { h := login(); h[15] = 7; return h }, text("InitiatorName=iqn.x"), 0x020a},
		{"out of range key", login, text("InitiatorName=iqn.x SessionType=Discovery MaxRecvDataSegmentLength=1"), 0},
		{"data segment above 8192", login, make([]byte, 9000), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := rawLogin(t, addr, tt.h(), tt.data)
			if tt.status == 0 {
				if err == nil && p.BHS[36] == 0 {
					if tt.name == "out of range key" && strings.Contains(string(p.Data), "MaxRecvDataSegmentLength=Reject") {
						return
					}
					t.Fatalf("login accepted: %q", p.Data)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := uint16(p.BHS[36])<<8 | uint16(p.BHS[37]); p.BHS.Opcode() != OpLoginResp || got != tt.status {
				t.Fatalf("%v status %04x, want %04x", p.BHS.Opcode(), got, tt.status)
			}
		})
	}
}
