package netem_test

import (
	"fmt"
	"io"
	"net"
	"time"

	"github.com/complchain/complchain/internal/netem"
)

// Wrap a server's end of a connection to give its client a 20 ms round
// trip.
func Example() {
	server, client := net.Pipe()
	server = netem.Wrap(server, netem.Link{Delay: 10 * time.Millisecond})
	defer server.Close()
	defer client.Close()
	go io.Copy(server, server) // echo

	start := time.Now()
	client.Write([]byte("ping"))
	buf := make([]byte, 4)
	io.ReadFull(client, buf)
	fmt.Println(string(buf), time.Since(start) >= 20*time.Millisecond)
	// Output: ping true
}
