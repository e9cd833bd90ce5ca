package control

import (
	"context"
	"testing"
)

// BenchmarkAttachDetach measures an attach and a detach through the
// socket: two requests, two namespace notices to no controller.
func BenchmarkAttachDetach(b *testing.B) {
	f := startTB(b)
	ctx := context.Background()
	for b.Loop() {
		if _, err := f.c.Attach(ctx, subNQN, AttachRequest{NSID: 9}); err != nil {
			b.Fatal(err)
		}
		if err := f.c.Detach(ctx, subNQN, 9); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkList measures GET /v1/subsystems of one subsystem with two
// namespaces.
func BenchmarkList(b *testing.B) {
	f := startTB(b)
	ctx := context.Background()
	for b.Loop() {
		if _, err := f.c.Subsystems(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
