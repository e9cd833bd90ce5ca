package ida_test

import (
	"fmt"

	"github.com/complchain/complchain/internal/ida"
)

// Names follow the smallest free instance, as nvme0n1, nvme0n2, … do.
func Example() {
	var instances ida.IDA
	a, b, c := instances.Get(1), instances.Get(1), instances.Get(1)
	instances.Put(b) // nvme0n2 goes away
	d := instances.Get(1)
	fmt.Printf("nvme0n%d nvme0n%d nvme0n%d, then nvme0n%d again\n", a, b, c, d)
	// Output: nvme0n1 nvme0n2 nvme0n3, then nvme0n2 again
}
