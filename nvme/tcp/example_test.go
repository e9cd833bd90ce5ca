package tcp_test

import (
	"context"
	"fmt"
	"net"

	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/nvme/tcp"
)

// A controller that answers Identify with 4 KiB, served on loopback, and a
// host queue that asks it.
func Example() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			served <- err
			return
		}
		served <- tcp.ServeTarget(ctx, conn, tcp.TargetConfig{}, tcp.HandlerFunc(
			func(ctx context.Context, req *tcp.Request) tcp.Response {
				switch req.Command.Opcode {
				case nvme.OpFabrics: // the Connect every queue starts with
					return tcp.Response{Completion: nvme.Completion{Result: 1}} // CNTLID 1
				case nvme.OpIdentify:
					data := make([]byte, nvme.IdentifySize)
					copy(data, "hello from the controller")
					return tcp.Response{Data: data}
				}
				return tcp.Response{Completion: nvme.Completion{Status: nvme.StatusInvalidOpcode}}
			}))
	}()

	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		panic(err)
	}
	q, err := tcp.NewHostQueue(ctx, conn, tcp.HostConfig{HeaderDigest: true, DataDigest: true})
	if err != nil {
		panic(err)
	}
	connect := nvme.ConnectCommand(0, 32, 0)
	cd := nvme.ConnectData{CNTLID: nvme.DynamicController, SubsystemNQN: "nqn.2026-01.example:sub", HostNQN: "nqn.2026-01.example:host"}
	data, _ := cd.AppendBinary(nil)
	if _, err := q.Do(ctx, &connect, data); err != nil {
		panic(err)
	}
	buf := make([]byte, nvme.IdentifySize)
	cmd := nvme.IdentifyCommand(nvme.CNSController, 0)
	c, err := q.Do(ctx, &cmd, buf)
	fmt.Printf("%s, CID %d, err %v\n", buf[:25], c.CID, err)
	flush := nvme.Command{Opcode: nvme.OpFlush, NSID: 1}
	_, err = q.Do(ctx, &flush, nil)
	fmt.Println(err)

	cancel() // stops ServeTarget
	fmt.Println(<-served)
	q.Close()
	// Output:
	// hello from the controller, CID 1, err <nil>
	// Invalid Command Opcode (0x01)
	// context canceled
}
