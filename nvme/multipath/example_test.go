package multipath_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/nvme/multipath"
)

// Two controllers of one subsystem report the same namespace: one head,
// two paths. The persistent policy gives it the number its identity had.
func Example() {
	dir, _ := os.MkdirTemp("", "names")
	defer os.RemoveAll(dir)
	names, _ := multipath.OpenNames(filepath.Join(dir, "names.json"))
	s, _ := multipath.New(multipath.Config{NQN: "nqn.2026-01.io.example:array", Instance: 0,
		Naming: multipath.Persistent, Names: names})
	ctx := context.Background()
	ids := nvme.NSIdentifiers{NGUID: [16]byte{0xa0, 15: 7}}
	for ctrl, state := range []nvme.ANAState{nvme.ANAOptimized, nvme.ANANonOptimized} {
		s.Attach(ctx, multipath.Path{Controller: ctrl, NSID: 7, IDs: ids, Shared: true, ANAGRPID: 1, ANAState: state})
	}
	for _, h := range s.Heads() {
		fmt.Println(h.Name(), "NSID", h.NSID)
		for _, p := range h.Paths {
			fmt.Println(" ", h.PathName(p.Controller), p.ANAState)
		}
	}
	// Output:
	// nvme0n1 NSID 7
	//   nvme0c0n1 optimized
	//   nvme0c1n1 non-optimized
}

// An event takes its place when it begins; its slow work runs
// concurrently, and heads change in the order the events began.
func ExampleSubsystem_Begin() {
	s, _ := multipath.New(multipath.Config{NQN: "nqn.2026-01.io.example:array", Naming: multipath.Index})
	ctx := context.Background()
	first, second := s.Begin(), s.Begin()
	done := make(chan string)
	go func() {
		h, _ := second.Attach(ctx, multipath.Path{NSID: 2, Shared: true}) // waits for first
		done <- h.Name()
	}()
	h, _ := first.Attach(ctx, multipath.Path{NSID: 5, Shared: true})
	fmt.Println("NSID 5 is", h.Name())
	fmt.Println("NSID 2 is", <-done)
	// Output:
	// NSID 5 is nvme0n1
	// NSID 2 is nvme0n2
}
