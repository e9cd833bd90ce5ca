package iscsi

import (
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/complchain/complchain/scsi"
)

// FuzzTarget feeds arbitrary bytes to a target's connection, as an
// initiator would send them: logins, text, commands, data, logouts. The
// target must answer or drop the connection without panic, and return
// once the initiator hangs up. Seeds: the discovery session and the
// first normal session iscsi-probe.py sent to LIO
// (captures/linux-lio-iscsi-probe-4x4.pcap), which log in to this
// target's names.
func FuzzTarget(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		tg := NewTarget(TargetConfig{Hosts: []*scsi.Host{{LUNs: 4}}, LoginTimeout: time.Second, QueueDepth: 4})
		initiator, target := net.Pipe()
		done := make(chan struct{})
		go func() {
			defer close(done)
			defer target.Close() // as Serve does: a failed login ends the connection
			tg.serveConn(target)
		}()
		drained := make(chan struct{})
		go func() {
			defer close(drained)
			io.Copy(io.Discard, initiator)
		}()
		initiator.Write(b)
		initiator.Close()
		<-done
		<-drained
	})
}

// The session iscsi-probe.py sent to Linux's LIO, replayed byte for byte
// to this target, gets the answers LIO gave: two Login Responses, each
// read's data with its status in the last Data-In (the S bit), a Logout
// Response.
func TestReplayProbeSession(t *testing.T) {
	seed, err := os.ReadFile("testdata/fuzz/FuzzTarget/lio-probe-session1")
	if err != nil {
		t.Fatal(err)
	}
	lit := strings.TrimSuffix(strings.SplitN(string(seed), "\n", 2)[1], "\n")
	raw, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lit, "[]byte("), ")"))
	if err != nil {
		t.Fatal(err)
	}
	tg := NewTarget(TargetConfig{Hosts: []*scsi.Host{{LUNs: 4, Vendor: "LIO-ORG", Product: "RAMDISK-MCP"}}})
	initiator, target := net.Pipe()
	defer initiator.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		tg.serveConn(target)
	}()
	go initiator.Write([]byte(raw))
	var ops []string
	lim := Limits{MaxRecvDataSegmentLength: MaxDataSegment}
	for {
		p, err := ReadPDU(initiator, lim)
		if err != nil {
			break
		}
		op := p.BHS.Opcode().String()
		if p.BHS.Opcode() == OpDataIn && p.BHS.Flags()&FlagStatus != 0 {
			op += fmt.Sprintf(" S status %d", p.BHS[3])
		}
		if p.BHS.Opcode() == OpLoginResp {
			op += fmt.Sprintf(" status %d", p.BHS[36])
		}
		ops = append(ops, op)
		if p.BHS.Opcode() == OpLogoutResp {
			break
		}
	}
	initiator.Close()
	<-done
	want := []string{"Login Response status 0", "Login Response status 0"}
	for range 16 {
		want = append(want, "SCSI Data-In S status 0")
	}
	want = append(want, "Logout Response")
	if !slices.Equal(ops, want) {
		t.Fatalf("answers\n%q\nwant\n%q", ops, want)
	}
}
