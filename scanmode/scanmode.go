// Package scanmode names the three ways a discovery scan schedules its
// tasks. The NVMe namespace scan (package nvme/scan, one task per
// namespace) and the SCSI host scan (package scsi, one task per host)
// both take a Mode, as Linux's NVMe scan and its scsi_mod.scan parameter
// do.
package scanmode

import (
	"fmt"
	"slices"
)

// Mode is how a scan schedules its tasks. The zero Mode is Ordered.
type Mode int

// Scan modes.
const (
	// Ordered runs the tasks concurrently and registers their results
	// under a completion chain in the order the tasks were started: names
	// (nvme0n1, sda, …) do not depend on timing.
	Ordered Mode = iota
	// Async runs the tasks concurrently and registers each result as its
	// task finishes, as Linux's asynchronous scans do: names depend on
	// timing.
	Async
	// Sync runs one task at a time, its commands one after another, as
	// the sequential scans of older kernels (scsi_mod.scan=sync).
	Sync
)

var names = []string{Ordered: "ordered", Async: "async", Sync: "sync"}

// String returns the Mode's name, as Parse reads it, or "Mode(n)" for a
// value that is not a Mode.
func (m Mode) String() string {
	if m >= 0 && int(m) < len(names) {
		return names[m]
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Parse returns the Mode named s: "ordered", "async" or "sync". Any
// other string is an error that names the three.
func Parse(s string) (Mode, error) {
	if i := slices.Index(names, s); i >= 0 {
		return Mode(i), nil
	}
	return 0, fmt.Errorf("unknown scan mode %q (want ordered, async or sync)", s)
}
