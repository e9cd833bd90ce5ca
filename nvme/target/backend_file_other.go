//go:build !linux

package target

import (
	"errors"
	"os"
)

// punchHole is not available: FileBackend deallocates nothing.
func punchHole(*os.File, int64, int64) error { return errors.ErrUnsupported }
