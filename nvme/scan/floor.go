package scan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/complchain/complchain/internal/netem"
	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/nvme/tcp"
)

// Sizes of what a scan moves per command: a command capsule out, and an
// Identify page back as a C2HData PDU followed by a response capsule.
const (
	floorCapsule  = tcp.CapsuleCmdLen
	floorResponse = tcp.DataHLen + nvme.IdentifySize + tcp.CapsuleRspLen
)

// A Floor moves the bytes of a scan through an emulated link with no NVMe
// work at either end: the least time a scan can take on this machine and
// link, whatever the software. Bound counts round trips only; the floor
// adds what the kernel's loopback TCP and the link emulation cost.
//
// One run of a floor for n namespaces and queue depth q does what an
// Async or Ordered scan does on the wire: for each page of the NSID list
// (1024 NSIDs, at least one page) one capsule out and one 4 KiB answer
// back, then k = CommandsPerNamespace capsules per NSID of the page,
// never more than q outstanding, each answered by 4 KiB of data and a
// response. The peer answers each capsule as it arrives, in order. Only
// the next list page waits for the previous one, as in a scan. Memory is
// a few buffers whatever n.
//
// A Floor is not safe for concurrent use.
type Floor struct {
	n, q   int
	conn   net.Conn
	ln     net.Listener
	served chan struct{}
	out    []byte // capsules to write, zeros
	in     []byte // read buffer

	mu       sync.Mutex
	cond     *sync.Cond
	answered int   // responses read completely in this run
	err      error // of the reader
}

// NewFloor listens on 127.0.0.1, with a peer behind a link that adds rtt
// to each round trip (rtt/2 each way, internal/netem), and connects to it.
// n is the number of namespaces (at least 1), q the queue depth (at least
// 1). Close frees the connection and the peer.
func NewFloor(ctx context.Context, rtt time.Duration, n, q int) (*Floor, error) {
	if n < 1 || q < 1 || rtt < 0 {
		return nil, fmt.Errorf("scan: floor of %d namespaces, queue depth %d, RTT %v: need n ≥ 1, q ≥ 1, RTT ≥ 0", n, q, rtt)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("scan: floor: %w", err)
	}
	f := &Floor{n: n, q: q, ln: ln, served: make(chan struct{}),
		out: make([]byte, floorCapsule*min(q, 1024)), in: make([]byte, 256<<10)}
	f.cond = sync.NewCond(&f.mu)
	go f.serve(rtt)
	var d net.Dialer
	if f.conn, err = d.DialContext(ctx, "tcp", ln.Addr().String()); err != nil {
		ln.Close()
		<-f.served
		return nil, fmt.Errorf("scan: floor: %w", err)
	}
	return f, nil
}

// serve answers each capsule of the one connection it accepts with a
// response of floorResponse bytes.
func (f *Floor) serve(rtt time.Duration) {
	defer close(f.served)
	c, err := f.ln.Accept()
	f.ln.Close()
	if err != nil {
		return
	}
	if rtt > 0 {
		c = netem.Wrap(c, netem.Link{Delay: rtt / 2})
	}
	defer c.Close()
	const batch = 64 // responses written at once, at most
	in, out := make([]byte, 64<<10), make([]byte, floorResponse*batch)
	partial := 0 // bytes of a capsule read so far
	for {
		n, err := c.Read(in)
		partial += n
		for ; partial >= floorCapsule; partial -= floorCapsule * min(partial/floorCapsule, batch) {
			if _, werr := c.Write(out[:floorResponse*min(partial/floorCapsule, batch)]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// Run moves the bytes of one scan and returns how long it took. It fails
// if the connection fails or ctx is done; the Floor is then unusable.
func (f *Floor) Run(ctx context.Context) (time.Duration, error) {
	stop := context.AfterFunc(ctx, func() { f.conn.Close() })
	defer stop()
	f.answered, f.err = 0, nil
	start := time.Now()
	read := make(chan struct{})
	go func() {
		defer close(read)
		f.read(f.total())
	}()
	err := f.write()
	if err != nil {
		f.conn.Close() // the reader stops
	}
	<-read
	elapsed := time.Since(start)
	if err == nil {
		err = f.err
	}
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return 0, fmt.Errorf("scan: floor: %w", err)
	}
	return elapsed, nil
}

// pages returns the number of NSID list pages of n namespaces.
func (f *Floor) pages() int { return max(1, (f.n+nvme.NSIDsPerList-1)/nvme.NSIDsPerList) }

// total returns the number of commands of a run.
func (f *Floor) total() int { return f.pages() + f.n*CommandsPerNamespace }

// write sends the capsules of a run: each list page once the one before
// it is answered, and the identify commands of a page after it, within
// the queue depth.
func (f *Floor) write() error {
	sent := 0
	for p := range f.pages() {
		if err := f.send(&sent, 1); err != nil { // the list page
			return err
		}
		if err := f.waitFor(func() bool { return f.answered >= sent }); err != nil {
			return err
		}
		ns := min(nvme.NSIDsPerList, f.n-p*nvme.NSIDsPerList)
		if err := f.send(&sent, ns*CommandsPerNamespace); err != nil {
			return err
		}
	}
	return nil
}

// send writes n capsules, each once fewer than q commands are outstanding.
func (f *Floor) send(sent *int, n int) error {
	for n > 0 {
		var free int
		if err := f.waitFor(func() bool { free = f.q - (*sent - f.answered); return free > 0 }); err != nil {
			return err
		}
		m := min(n, free, len(f.out)/floorCapsule)
		if _, err := f.conn.Write(f.out[:m*floorCapsule]); err != nil {
			return err
		}
		*sent += m
		n -= m
	}
	return nil
}

// waitFor waits until ok, called with f.mu held, holds, or the reader
// fails.
func (f *Floor) waitFor(ok func() bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for !ok() && f.err == nil {
		f.cond.Wait()
	}
	return f.err
}

// read reads the responses of total commands.
func (f *Floor) read(total int) {
	var got int64
	want := int64(total) * floorResponse
	for got < want {
		n, err := f.conn.Read(f.in[:min(int64(len(f.in)), want-got)])
		got += int64(n)
		f.mu.Lock()
		f.answered = int(got / floorResponse)
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			f.err = err
		}
		f.cond.Broadcast()
		f.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// Close closes the connection and waits for the peer to stop.
func (f *Floor) Close() error {
	err := f.conn.Close()
	<-f.served
	return err
}
