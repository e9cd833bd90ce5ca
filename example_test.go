package complchain_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/complchain/complchain"
)

// Tasks discover concurrently and finish in any order, yet register in the
// order they were added.
func Example() {
	type task struct {
		complchain.Entry
		name string
	}
	var (
		chain complchain.Chain
		wg    sync.WaitGroup
		names []string
	)
	for _, name := range []string{"nvme0n1", "nvme0n2", "nvme0n3", "nvme0n4"} {
		t := &task{name: name}
		chain.Add(&t.Entry)
		wg.Go(func() {
			defer t.Complete()
			time.Sleep(time.Duration(rand.IntN(5)) * time.Millisecond) // slow discovery
			if err := t.Wait(context.Background()); err != nil {
				return
			}
			names = append(names, t.name) // critical section, in Add order
		})
	}
	wg.Wait()
	fmt.Println(names)
	// Output: [nvme0n1 nvme0n2 nvme0n3 nvme0n4]
}

// Flush waits for every entry added before it, like the kernel's
// scsi_complete_async_scans.
func ExampleChain_Flush() {
	var chain complchain.Chain
	var scan complchain.Entry
	chain.Add(&scan)
	go func() {
		time.Sleep(time.Millisecond) // a host scan in progress
		scan.Complete()
	}()
	if err := chain.Flush(context.Background()); err != nil {
		fmt.Println(err)
	}
	fmt.Println("all scans complete, pending:", chain.Len())
	// Output: all scans complete, pending: 0
}
