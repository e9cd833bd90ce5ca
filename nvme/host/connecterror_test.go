package host_test

import (
	"cmp"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/complchain/complchain/internal/memtest"
	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/nvme/host"
	"github.com/complchain/complchain/nvme/target"
)

const (
	refusedHostNQN = "nqn.2014-08.org.nvmexpress:uuid:0f6e2a3c-5b1d-4e7f-9a8b-1c2d3e4f5a6b"
	refusedSubNQN  = "nqn.2026-01.io.example:refusing"
)

var refusedHostID = [16]byte{0x0f, 0x6e, 0x2a, 0x3c, 0x5b, 0x1d, 0x4e, 0x7f, 0x9a, 0x8b, 0x1c, 0x2d, 0x3e, 0x4f, 0x5a, 0x6b}

// A controller that refuses Connect yields a ConnectError naming the
// refused field and the value sent in it, whatever status and dword 0 it
// answers with, over a real connection.
func TestConnectRefusals(t *testing.T) {
	const dnr = nvme.StatusDNR
	tests := []struct {
		name   string
		status nvme.Status
		dw0    uint32
		field  string   // Param().Field()
		want   []string // in the message
	}{
		{"SUBNQN", nvme.StatusConnectInvalidParam | dnr, uint32(nvme.ConnectParamSUBNQN), "SUBNQN",
			[]string{`refused SUBNQN "` + refusedSubNQN + `"`, "Connect Invalid Parameters (0x182)", "127.0.0.1:"}},
		{"HOSTNQN", nvme.StatusConnectInvalidParam | dnr, uint32(nvme.ConnectParamHOSTNQN), "HOSTNQN",
			[]string{`refused HOSTNQN "` + refusedHostNQN + `"`}},
		{"HOSTID", nvme.StatusConnectInvalidParam | dnr, uint32(nvme.ConnectParamHOSTID), "HOSTID",
			[]string{"refused HOSTID 0f6e2a3c-5b1d-4e7f-9a8b-1c2d3e4f5a6b"}},
		{"CNTLID", nvme.StatusConnectInvalidParam | dnr, uint32(nvme.ConnectParamCNTLID), "CNTLID",
			[]string{"refused CNTLID 0xffff"}},
		{"SQSIZE", nvme.StatusConnectInvalidParam | dnr, uint32(nvme.ConnectParamSQSIZE), "SQSIZE",
			[]string{"refused SQSIZE 31 (32 entries) of queue 0"}},
		{"QID", nvme.StatusConnectInvalidParam | dnr, uint32(nvme.ConnectParamQID), "QID",
			[]string{"refused QID 0"}},
		{"KATO", nvme.StatusConnectInvalidParam | dnr, uint32(nvme.ConnectParamKATO), "KATO",
			[]string{"refused KATO 0 ms"}},
		{"InsideHOSTNQN", nvme.StatusConnectInvalidParam | dnr, 1<<16 | 600, "HOSTNQN",
			[]string{`refused HOSTNQN "` + refusedHostNQN + `"`}},
		{"ReservedBitsSet", nvme.StatusConnectInvalidParam | dnr, 0xff00_0000 | uint32(nvme.ConnectParamSUBNQN), "SUBNQN",
			[]string{`refused SUBNQN "` + refusedSubNQN + `"`}},
		{"UnnamedOffset", nvme.StatusConnectInvalidParam | dnr, 1<<16 | 1000, "",
			[]string{"refused byte 1000 of the Connect data"}},
		{"InvalidHost", nvme.StatusConnectInvalidHost | dnr, uint32(nvme.ConnectParamHOSTNQN), "HOSTNQN",
			[]string{`host NQN "` + refusedHostNQN + `" not allowed by subsystem "` + refusedSubNQN + `"`, "Connect Invalid Host"}},
		{"RestartDiscovery", nvme.StatusConnectRestartDisc, 0, "",
			[]string{"discover it again", "Connect Restart Discovery"}},
		{"ControllerBusy", nvme.StatusConnectControllerBusy, 0, "",
			[]string{"controller busy or not available", "Connect Controller Busy"}},
		{"Incompatible", nvme.StatusConnectIncompatible | dnr, 0, "",
			[]string{"RECFMT 0 of queue 0 not supported", "Connect Incompatible Format"}},
		{"OtherStatus", nvme.StatusInternalError, 0, "",
			[]string{"Internal Error (0x06)"}},
		{"EscapesTheNQN", nvme.StatusConnectInvalidParam | dnr, uint32(nvme.ConnectParamSUBNQN), "SUBNQN",
			[]string{`refused SUBNQN "nqn.2026-01.io.example:\x1b[2J"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			memtest.Bounded(t, 4<<20)
			f := &scriptedCtrl{mqes: 31, refuse: nvme.Completion{Status: tt.status, Result: uint64(tt.dw0)}}
			addr := f.start(t)
			subnqn := refusedSubNQN
			if tt.name == "EscapesTheNQN" {
				subnqn = "nqn.2026-01.io.example:\x1b[2J"
			}
			cfg := host.Config{SubsystemNQN: subnqn, HostNQN: refusedHostNQN, HostID: refusedHostID, KATO: -1}
			c, err := host.Connect(context.Background(), addr, cfg)
			if err == nil {
				c.Close()
				t.Fatal("Connect succeeded")
			}
			var ce *host.ConnectError
			if !errors.As(err, &ce) {
				t.Fatalf("Connect: %v, want a *host.ConnectError", err)
			}
			if ce.Status != tt.status || ce.Param().Field() != tt.field || ce.Addr != addr {
				t.Errorf("Status %v, field %q, Addr %s; want %v, %q, %s", ce.Status, ce.Param().Field(), ce.Addr, tt.status, tt.field, addr)
			}
			var st nvme.Status
			if !errors.As(err, &st) || st != tt.status {
				t.Errorf("errors.As Status = %v, want %v", st, tt.status)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message %q lacks %q", err, w)
				}
			}
		})
	}
}

// The embedded target names the field it refuses, and the host reports
// it.
func TestTargetConnectRefusals(t *testing.T) {
	_, addr := startTarget(t, target.Config{Namespaces: 1, AdminQueueDepth: 32})
	tests := []struct {
		name  string
		cfg   host.Config
		param nvme.ConnectParam
		want  string
	}{
		{"UnknownSubsystem", host.Config{SubsystemNQN: "nqn.2026-01.io.example:nope"}, nvme.ConnectParamSUBNQN,
			`refused SUBNQN "nqn.2026-01.io.example:nope"`},
		{"AdminQueueTooDeep", host.Config{AdminQueueDepth: 64}, nvme.ConnectParamSQSIZE,
			"refused SQSIZE 63 (64 entries) of queue 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.SubsystemNQN = cmp.Or(cfg.SubsystemNQN, target.DefaultNQN)
			c, err := host.Connect(context.Background(), addr, cfg)
			if err == nil {
				c.Close()
				t.Fatal("Connect succeeded")
			}
			var ce *host.ConnectError
			if !errors.As(err, &ce) || ce.Status.Code() != nvme.StatusConnectInvalidParam || ce.Param() != tt.param {
				t.Fatalf("Connect: %v, want Connect Invalid Parameters naming %v", err, tt.param)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("message %q lacks %q", err, tt.want)
			}
		})
	}
}
