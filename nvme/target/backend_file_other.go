//go:build !linux

package target

import (
	"errors"
	"os"
)

// punchHole is not available: FileBackend.ZeroAt writes zeros instead.
func punchHole(*os.File, int64, int64) error { return errors.ErrUnsupported }
