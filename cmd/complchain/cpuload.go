package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync/atomic"
)

// cpuLoadEnv, set to a number of threads n, makes this program a CPU load
// instead of itself: n threads spin until its standard input is closed.
// bench --cpu-load starts it so in a sibling process.
const cpuLoadEnv = "COMPLCHAIN_CPU_LOAD"

// spins keeps the spinning loops from being optimised away.
var spins atomic.Int64

// runCPULoad spins and exits if cpuLoadEnv asks for a CPU load; otherwise
// it returns at once. main (and TestMain) call it first.
func runCPULoad() {
	v, ok := os.LookupEnv(cpuLoadEnv)
	if !ok {
		return
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxCPULoad {
		fmt.Fprintf(os.Stderr, "complchain: %s=%q: want 1 to %d threads\n", cpuLoadEnv, v, maxCPULoad)
		os.Exit(2)
	}
	runtime.GOMAXPROCS(n)
	for range n {
		go func() {
			for i := 0; ; i++ {
				if i&(1<<20-1) == 0 {
					spins.Add(1)
				}
			}
		}()
	}
	io.Copy(io.Discard, os.Stdin) // until the parent closes it, or ends
	os.Exit(0)
}

// maxCPULoad is the most threads --cpu-load starts.
const maxCPULoad = 256

// startCPULoad starts n threads spinning in a sibling process, this
// program run again with cpuLoadEnv set, at the same priority as this
// one: a load other processes put on the machine's CPUs, the same from
// one run to the next. stop ends it; the sibling also ends when this
// process does, as its standard input closes.
func startCPULoad(n int) (stop func() error, err error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("--cpu-load: %w", err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), cpuLoadEnv+"="+strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("--cpu-load: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("--cpu-load: start %s: %w", exe, err)
	}
	return func() error {
		in.Close()
		if err := cmd.Wait(); err != nil {
			return fmt.Errorf("--cpu-load: the loading process: %w", err)
		}
		return nil
	}, nil
}
