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

// A task can hand its critical section to the chain with Then instead of
// waiting for its turn: the section runs as soon as every earlier task
// is done, in whichever goroutine finished last, and no goroutine waits.
func ExampleEntry_Then() {
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
			defer t.Complete()                                         // does nothing once Then has the entry
			time.Sleep(time.Duration(rand.IntN(5)) * time.Millisecond) // slow discovery
			t.Then(func() { names = append(names, t.name) })           // in Add order
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

// A Group identifies devices concurrently and registers them in the order
// they were started; a failed task does not hold the others back.
func ExampleGroup() {
	g, ctx := complchain.WithContext(context.Background())
	g.SetLimit(4)
	var registered []string
	for _, dev := range []string{"sda", "sdb", "sdc"} {
		g.Go(func(ctx context.Context, e *complchain.Entry) error {
			time.Sleep(time.Duration(rand.IntN(3)) * time.Millisecond) // identify
			if err := e.Wait(ctx); err != nil {
				return err
			}
			registered = append(registered, dev)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		fmt.Println(err)
	}
	fmt.Println(registered, ctx.Err())
	// Output: [sda sdb sdc] context canceled
}

// Map yields results in input order, whatever order the calls finish in.
func ExampleMap() {
	nsids := func(yield func(int) bool) {
		for id := 1; id <= 5; id++ {
			if !yield(id) {
				return
			}
		}
	}
	for name, err := range complchain.Map(context.Background(), nsids, 3, func(_ context.Context, id int) (string, error) {
		time.Sleep(time.Duration(5-id) * time.Millisecond) // later IDs finish first
		return fmt.Sprintf("nvme0n%d", id), nil
	}) {
		fmt.Println(name, err)
	}
	// Output:
	// nvme0n1 <nil>
	// nvme0n2 <nil>
	// nvme0n3 <nil>
	// nvme0n4 <nil>
	// nvme0n5 <nil>
}
