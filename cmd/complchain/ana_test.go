package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"reflect"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/nvme/host"
	"github.com/complchain/complchain/nvme/target"
)

func TestParseANAStates(t *testing.T) {
	tests := []struct {
		vals []string
		want map[uint16]map[uint32]nvme.ANAState
		ok   bool
	}{
		{nil, map[uint16]map[uint32]nvme.ANAState{}, true},
		{[]string{"2=inaccessible", "1:3=non-optimized", "2:128=change"}, map[uint16]map[uint32]nvme.ANAState{
			1: {3: nvme.ANANonOptimized}, 2: {1: nvme.ANAInaccessible, 128: nvme.ANAChange}}, true},
		{[]string{"2=persistent-loss"}, map[uint16]map[uint32]nvme.ANAState{2: {1: nvme.ANAPersistentLoss}}, true},
		{[]string{"3=optimized"}, nil, false},   // only two ports
		{[]string{"0=optimized"}, nil, false},   // PORTID 0
		{[]string{"1:0=optimized"}, nil, false}, // group 0
		{[]string{"1:129=optimized"}, nil, false},
		{[]string{"1=optimised"}, nil, false},
		{[]string{"1"}, nil, false},
		{[]string{"1=optimized", "1:1=change"}, nil, false}, // twice
	}
	for _, tt := range tests {
		got, err := parseANAStates(tt.vals, 2)
		if (err == nil) != tt.ok || (tt.ok && !reflect.DeepEqual(got, tt.want)) {
			t.Errorf("parseANAStates(%q) = %v, %v", tt.vals, got, err)
		}
	}
}

// target --ana 2=inaccessible: a host connected through port 2 reads
// group 1 inaccessible, through port 1 optimized.
func TestTargetANA(t *testing.T) {
	defer goleak.VerifyNone(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	cmd := newRootCmd()
	cmd.SetArgs([]string{"target", "--namespaces", "2", "--listen", "127.0.0.1:0", "--listen", "127.0.0.1:0", "--ana", "2=inaccessible"})
	cmd.SetOut(pw)
	cmd.SetErr(io.Discard)
	done := make(chan error, 1)
	go func() {
		done <- cmd.ExecuteContext(ctx)
		pw.Close()
	}()
	var ports []string
	sc := bufio.NewScanner(pr)
	for len(ports) < 2 && sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 8 && f[1] == "discover" {
			ports = append(ports, net.JoinHostPort(f[5], f[7]))
		}
	}
	go io.Copy(io.Discard, pr)
	for i, want := range []nvme.ANAState{nvme.ANAOptimized, nvme.ANAInaccessible} {
		c, err := host.Connect(ctx, ports[i], host.Config{SubsystemNQN: target.DefaultNQN})
		if err != nil {
			t.Fatal(err)
		}
		log, err := c.ANA()
		c.Close()
		if err != nil || log.Group(1) == nil || log.Group(1).State != want || len(log.Group(1).NSIDs) != 2 {
			t.Errorf("port %d: %+v %v, want group 1 %v", i+1, log, err, want)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("target command: %v", err)
	}
}
