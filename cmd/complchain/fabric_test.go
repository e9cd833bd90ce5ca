package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/nvme/host"
)

// target --subsystems 3 on two ports: the discovery log of an allowed
// host lists every subsystem on every port, then the referral; another
// host sees the subsystem it is allowed on and the referral.
func TestTargetFabric(t *testing.T) {
	defer goleak.VerifyNone(t)
	const (
		base    = "nqn.2026-01.io.example:fab"
		allowed = "nqn.2014-08.org.nvmexpress:uuid:0000000a-0000-0000-0000-000000000000"
		other   = "nqn.2014-08.org.nvmexpress:uuid:0000000b-0000-0000-0000-000000000000"
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	cmd := newRootCmd()
	cmd.SetArgs([]string{"target", "--subsystems", "3", "--nqn", base, "--namespaces", "1",
		"--listen", "127.0.0.1:0", "--listen", "127.0.0.1:0", "--allow-host", allowed, "--allow-host-subsys", "3=" + other,
		"--referral", "192.0.2.1:8009", "--delay-subsys", "1=5ms,3=1ms", "--identify-delay-subsys", "2=1ms", "--delay-port", "2=1ms"})
	cmd.SetOut(pw)
	cmd.SetErr(io.Discard)
	done := make(chan error, 1)
	go func() {
		done <- cmd.ExecuteContext(ctx)
		pw.Close()
	}()
	var ports []string
	connects := map[string][]string{} // port → NQNs
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 8 && f[1] == "discover":
			ports = append(ports, net.JoinHostPort(f[5], f[7]))
		case len(f) == 10 && f[1] == "connect":
			a := net.JoinHostPort(f[5], f[7])
			connects[a] = append(connects[a], f[9])
		}
		if len(ports) == 2 && len(connects[ports[1]]) == 3 {
			break
		}
	}
	go io.Copy(io.Discard, pr)
	nqns := []string{base + ":sub1", base + ":sub2", base + ":sub3"}
	if len(ports) != 2 || !slices.Equal(connects[ports[0]], nqns) || !slices.Equal(connects[ports[1]], nqns) {
		t.Fatalf("ports %q, connect lines %q", ports, connects)
	}
	es, err := host.Discover(ctx, ports[1], host.Config{HostNQN: allowed})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range es {
		got = append(got, net.JoinHostPort(e.Address, e.ServiceID)+" "+e.SubsystemNQN)
	}
	var want []string
	for _, p := range ports {
		for _, n := range nqns {
			want = append(want, p+" "+n)
		}
	}
	want = append(want, "192.0.2.1:8009 "+nvme.DiscoveryNQN)
	if !slices.Equal(got, want) {
		t.Errorf("discovery log of an allowed host:\n%q\nwant\n%q", got, want)
	}
	// The other host may connect to subsystem 3 only.
	es, err = host.Discover(ctx, ports[0], host.Config{HostNQN: other})
	if err != nil || len(es) != 3 || es[0].SubsystemNQN != nqns[2] || es[1].SubsystemNQN != nqns[2] || es[2].SubsystemType != 1 {
		t.Errorf("discovery log of another host: %+v, %v", es, err)
	}
	// The allowed host connects to the second subsystem on the second port.
	c, err := host.Connect(ctx, ports[1], host.Config{HostNQN: allowed, SubsystemNQN: nqns[1]})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("target command: %v", err)
	}
}

func TestTargetFabricErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--subsystems", "0"},
		{"--subsystems", "1025"},
		{"--subsystems", "2", "--delay-subsys", "3=1ms"},
		{"--delay-subsys", "1=-1ms"},
		{"--delay-subsys", "x=1ms"},
		{"--identify-delay-subsys", "1=soon"},
		{"--delay-port", "1=-1s"},
		{"--delay-port", "2=1s"},
		{"--delay-port", "1s"},
		{"--referral", "example.com:8009"},
		{"--allow-host", ""},
		{"--allow-host-subsys", "nqn.x"},
		{"--allow-host-subsys", "2=nqn.x"},
		{"--allow-host-subsys", "1="},
		{"--allow-host", "nqn.x", "--allow-host-subsys", "1=nqn.x"},
		{"--nqn", strings.Repeat("n", 220), "--subsystems", "2"},
		{"--listen", "127.0.0.1:0", "--listen", "256.0.0.1:1"},
	} {
		cmd := newRootCmd()
		cmd.SetArgs(append([]string{"target", "--listen", "127.0.0.1:0"}, args...))
		cmd.SetOut(io.Discard)
		cmd.SetErr(io.Discard)
		if err := cmd.ExecuteContext(context.Background()); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}
