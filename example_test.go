package complchain_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
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

// MapWindow bounds the values under way while a call is slow: here one
// slow identify lets at most 6 values be read ahead, while the calls after
// it go on. Results still come out in input order.
func ExampleMapWindow() {
	var started atomic.Int32
	for name, err := range complchain.MapWindow(context.Background(), slices.Values([]int{1, 2, 3, 4}), 2, 6, func(_ context.Context, id int) (string, error) {
		started.Add(1)
		if id == 1 {
			time.Sleep(5 * time.Millisecond) // a slow namespace
		}
		return fmt.Sprintf("nvme0n%d", id), nil
	}) {
		fmt.Println(name, err)
	}
	fmt.Println(started.Load(), "calls")
	// Output:
	// nvme0n1 <nil>
	// nvme0n2 <nil>
	// nvme0n3 <nil>
	// nvme0n4 <nil>
	// 4 calls
}

// With a limit of 2 and a window of 8, a slow first task does not hold
// the Group back: the tasks after it do their work and park in Wait for
// their turn, while others start in their place.
func ExampleGroup_SetWindow() {
	var g complchain.Group
	g.SetLimit(2)
	g.SetWindow(8)
	var order []int
	for i := range 6 {
		g.Go(func(ctx context.Context, e *complchain.Entry) error {
			if i == 0 {
				time.Sleep(5 * time.Millisecond) // a slow device
			}
			if err := e.Wait(ctx); err != nil {
				return err
			}
			order = append(order, i)
			return nil
		})
	}
	g.Wait()
	fmt.Println(order)
	// Output: [0 1 2 3 4 5]
}
