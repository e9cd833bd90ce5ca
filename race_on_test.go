//go:build race

package complchain

// raceEnabled reports whether the race detector is on: sync.Pool then
// drops a quarter of what is put in it, so allocation counts that rely
// on it are not measured.
const raceEnabled = true
