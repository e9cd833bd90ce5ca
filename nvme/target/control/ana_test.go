package control

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/complchain/complchain/nvme"
)

// TestSetANAState checks that an ANA state set through the socket reaches
// a host connected through that port as the ANA change notice and its
// ANA log.
func TestSetANAState(t *testing.T) {
	f := start(t)
	c := f.connect(t)
	ctx := context.Background()
	a, err := f.c.SetANAState(ctx, 1, 1, "inaccessible")
	if err != nil || a != (ANA{PortID: 1, GRPID: 1, State: "inaccessible"}) {
		t.Fatalf("SetANAState = %+v, %v", a, err)
	}
	select {
	case ev := <-c.Events():
		if !ev.ANAChange() {
			t.Fatalf("event %+v, want the ANA change notice", ev)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no ANA change notice")
	}
	log, err := c.ANA()
	if err != nil || len(log.Groups) == 0 || log.Groups[0].ANAGRPID != 1 || log.Groups[0].State != nvme.ANAInaccessible {
		t.Fatalf("ANA log after the change: %+v, %v", log, err)
	}
	for _, tc := range []struct {
		port  uint16
		grp   uint32
		state string
		field string
		code  int
	}{
		{0, 1, "optimized", "portid", 400},
		{9, 1, "optimized", "portid", 404},
		{1, 0, "optimized", "grpid", 400},
		{1, 129, "optimized", "grpid", 400},
		{1, 1, "fast", "state", 400},
		{1, 1, "", "state", 400},
	} {
		_, err := f.c.SetANAState(ctx, tc.port, tc.grp, tc.state)
		var e *Error
		if !errors.As(err, &e) || e.Status != tc.code || e.Field != tc.field {
			t.Errorf("SetANAState(%d, %d, %q): %v, want %d naming %s", tc.port, tc.grp, tc.state, err, tc.code, tc.field)
		}
	}
}
