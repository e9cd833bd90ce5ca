// Package scanmode names the three ways a discovery scan can schedule its
// tasks, shared by the NVMe namespace scan and the SCSI host scan.
package scanmode

import (
	"fmt"
	"slices"
)

// Mode is how a scan schedules its tasks.
type Mode int

// Scan modes.
const (
	Ordered Mode = iota // concurrent, results registered in start order
	Async               // concurrent, results registered as tasks finish
	Sync                // one task at a time
)

var names = []string{Ordered: "ordered", Async: "async", Sync: "sync"}

func (m Mode) String() string {
	if m >= 0 && int(m) < len(names) {
		return names[m]
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Parse returns the Mode named s: "ordered", "async" or "sync".
func Parse(s string) (Mode, error) {
	if i := slices.Index(names, s); i >= 0 {
		return Mode(i), nil
	}
	return 0, fmt.Errorf("unknown scan mode %q (want ordered, async or sync)", s)
}
