//go:build !race

package complchain

const raceEnabled = false
