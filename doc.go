// Package complchain runs slow work concurrently yet lets each task enter a
// critical section in the order the tasks were started: a completion chain.
//
// It is the Go form of the Linux kernel's completion chain (compl_chain),
// made for the NVMe asynchronous namespace scan and the SCSI asynchronous
// host scan: discovery runs in parallel, registration happens in a
// deterministic order. A Chain is related to sync.WaitGroup and
// x/sync/errgroup, but orders the critical sections of its tasks.
//
// The typical use: add an Entry for each task in the order results must be
// registered, start the tasks, and in each task do the slow part, then Wait,
// register, and Complete:
//
//	chain.Add(&t.Entry)
//	go func() {
//		defer t.Complete() // a task that fails early never stalls the chain
//		t.discover()
//		if err := t.Wait(ctx); err != nil {
//			return
//		}
//		t.register() // runs in Add order, one task at a time
//	}()
//
// Group and Map build on the chain for the common cases.
//
// # Limit and window
//
// Order has a price when one task is slow: the results after it are ready
// but must wait for it. Group and Map keep two bounds apart. The limit is
// how many tasks run at once; the window is how many may be under way,
// running or done and waiting for a slow predecessor (Group.SetWindow,
// MapWindow). While one task is slow the others go on until the window is
// full; a slow consumer holds them back at the same bound. A larger window
// rides out a longer stall, at the cost of memory: a result for each value
// of Map, a parked goroutine (a few KiB of stack) for each task of a Group
// waiting in Wait. A task that hands its section to Entry.Then instead of
// waiting parks no goroutine, and the sections of tasks that finish in
// order run back to back.
//
// Measured side by side in one run on a 2-core machine, quiet (bench/peers,
// `go run ./cmd/workloads -rounds 7 -seed 1`; wall time as a multiple of an
// unordered errgroup with the same limit, median of 7 rounds):
//
//	limit 64                         Map      Map       Group     Group
//	window (× limit)                 16       64 (*)    16 (*)    64
//	heavy tail: wall × unordered     1.64     1.01      1.64      1.05
//	heavy tail: peak heap, MiB       0.2      1.2       5.4       18.9
//	slow consumer: wall × unordered  1.02     0.99      1.26      1.39
//	slow consumer: read-ahead        1024     4224      1024      4096
//	slow consumer: peak heap, MiB    0.0      0.1       5.6       19.4
//	(*) the default (Map's is 64 × (limit + 2))
//
// The heavy tail is 5 000 tasks whose durations are lognormal with a median
// of 200 µs and 1 % of 20 ms or more; the slow consumer takes 50 µs for
// each of 10 000 tiny results.
package complchain
