package tcp

import (
	"io"
	"net"
	"testing"
	"testing/synctest"
	"time"
)

// setTimeout shortens the bound of the writes after it even when the
// deadline of an earlier, longer timeout is still far off: a write to a
// peer that reads goes through after the new timeout's time has passed.
func TestWriterShorterTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, peer := net.Pipe()
		defer peer.Close()
		peer.SetReadDeadline(time.Now().Add(time.Minute)) // a lost write fails the test, not the bubble
		w := newBatchWriter(c, nil)
		w.timeout = time.Hour
		got := make([]byte, 1)
		for i, step := range []func(){
			func() {},
			func() { w.setTimeout(time.Second) },
			func() { time.Sleep(2 * time.Second) }, // the bubble's clock: the deadline setTimeout set passes
		} {
			step()
			w.send(func(b []byte) []byte { return append(b, byte(i)) })
			if _, err := io.ReadFull(peer, got); err != nil || got[0] != byte(i) {
				t.Fatalf("write %d: read %v, %v", i, got, err)
			}
		}
		w.close()
		c.Close()
		if w.err != nil {
			t.Fatalf("writer failed: %v", w.err)
		}
	})
}
