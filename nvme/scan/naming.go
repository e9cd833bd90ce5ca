package scan

import (
	"fmt"
	"slices"
)

// Naming is how namespaces are named.
type Naming int

// Naming policies.
const (
	// Index names a namespace nvme<ctrl>n<instance>, the instance being the
	// smallest free number: dense names in registration order.
	Index Naming = iota
	// NSID names it nvme<ctrl>n<NSID>: stable across changes, but sparse.
	NSID
)

var namingNames = []string{Index: "index", NSID: "nsid"}

func (n Naming) String() string {
	if int(n) < len(namingNames) {
		return namingNames[n]
	}
	return fmt.Sprintf("Naming(%d)", int(n))
}

// ParseNaming returns the Naming named s: "index" or "nsid".
func ParseNaming(s string) (Naming, error) {
	if i := slices.Index(namingNames, s); i >= 0 {
		return Naming(i), nil
	}
	return 0, fmt.Errorf("unknown naming %q (want index or nsid)", s)
}
