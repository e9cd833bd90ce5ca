package multipath

import (
	"fmt"
	"slices"
)

// Naming is how a subsystem's heads are numbered: the N of nvme<S>n<N>.
// See the package doc for what each policy promises.
type Naming int

// Naming policies.
const (
	// Index gives a new head the smallest free number, in the order of
	// the events that create heads: dense, in list order after a scan.
	Index Naming = iota
	// NSID gives a head its NSID: stable, sparse.
	NSID
	// Persistent gives a head the number recorded for its namespace's
	// identity in Config.Names, recording the smallest number no
	// identity holds for a namespace seen for the first time.
	Persistent
)

var namingNames = []string{Index: "index", NSID: "nsid", Persistent: "persistent"}

func (n Naming) String() string {
	if n >= 0 && int(n) < len(namingNames) {
		return namingNames[n]
	}
	return fmt.Sprintf("Naming(%d)", int(n))
}

// ParseNaming returns the Naming named s: "index", "nsid" or
// "persistent".
func ParseNaming(s string) (Naming, error) {
	if i := slices.Index(namingNames, s); i >= 0 {
		return Naming(i), nil
	}
	return 0, fmt.Errorf("unknown naming %q (want index, nsid or persistent)", s)
}
