package fabric

import (
	"context"
	"net"
	"sync"
	"testing"

	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/nvme/tcp"
)

// discServer is a discovery controller over NVMe/TCP on 127.0.0.1 whose
// log the test writes: it answers Connect, Property Get and Set, Identify
// Controller, Keep Alive and Get Log Page 70h, as a discovery controller
// must for host.Connect and host.Controller.DiscoveryLog.
type discServer struct {
	addr string
	// log returns the log page as it is when its header is read for the
	// n-th time (n from 0); records are read from the last page returned.
	log func(n int) []byte
	// misbehave, if not nil, is asked first about every command: to
	// leave it unanswered until the server stops (hang), or to close the
	// connection instead of answering (drop). Set it before connecting.
	misbehave func(cmd *nvme.Command) (hang, drop bool)

	mu      sync.Mutex
	headers int    // header reads so far
	page    []byte // the page of the last header read
	reads   int    // Get Log Page commands
}

// startDisc starts a discovery controller serving entries (GENCTR 1).
func startDisc(t *testing.T, entries ...nvme.DiscoveryEntry) *discServer {
	return startDiscFunc(t, func(int) []byte { return nvme.AppendDiscoveryLog(nil, 1, entries) })
}

// startDiscFunc starts a discovery controller whose log is log(n) at its
// n-th header read.
func startDiscFunc(t *testing.T, log func(n int) []byte) *discServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &discServer{addr: ln.Addr().String(), log: log}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer conn.Close()
				var cc uint32
				var mu sync.Mutex
				tcp.ServeTarget(ctx, conn, tcp.TargetConfig{}, tcp.HandlerFunc(func(_ context.Context, req *tcp.Request) tcp.Response {
					if s.misbehave != nil {
						switch hang, drop := s.misbehave(&req.Command); {
						case hang:
							<-ctx.Done()
						case drop:
							conn.Close()
						}
					}
					mu.Lock()
					defer mu.Unlock()
					return s.serve(req, &cc)
				}))
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		cancel()
		wg.Wait()
	})
	return s
}

// discCAP: MQES 31, CAP.TO 1 (500 ms), NVM command set.
const discCAP = 31 | 1<<24 | 1<<37

func (s *discServer) serve(req *tcp.Request, cc *uint32) tcp.Response {
	cmd := &req.Command
	ok := func(result uint64) tcp.Response { return tcp.Response{Completion: nvme.Completion{Result: result}} }
	switch {
	case cmd.Opcode == nvme.OpFabrics && cmd.FabricsType() == nvme.FabricsConnect:
		return ok(1)
	case cmd.Opcode == nvme.OpFabrics && cmd.FabricsType() == nvme.FabricsPropertyGet:
		switch cmd.CDW11 {
		case nvme.PropCAP:
			return ok(discCAP)
		case nvme.PropVS:
			return ok(0x10300)
		case nvme.PropCSTS:
			csts := uint64(0)
			if *cc&nvme.CCEnable != 0 {
				csts |= nvme.CSTSReady
			}
			if *cc&nvme.CCShnMask != 0 {
				csts |= nvme.CSTSShstDone
			}
			return ok(csts)
		}
	case cmd.Opcode == nvme.OpFabrics && cmd.FabricsType() == nvme.FabricsPropertySet && cmd.CDW11 == nvme.PropCC:
		*cc = cmd.CDW12
		return ok(0)
	case cmd.Opcode == nvme.OpIdentify && cmd.CDW10&0xff == uint32(nvme.CNSController):
		id := nvme.IdentifyController{SerialNumber: "DISC", ModelNumber: "test discovery controller", Firmware: "1.0",
			CNTLID: 1, Version: 0x10300, CNTRLTYPE: 2, MAXCMD: 32, SubNQN: nvme.DiscoveryNQN}
		b, _ := id.AppendBinary(nil)
		return tcp.Response{Data: b}
	case cmd.Opcode == nvme.OpKeepAlive:
		return ok(0)
	case cmd.Opcode == nvme.OpGetLogPage:
		lid, n, off := cmd.LogPage()
		if lid != nvme.LogDiscovery {
			break
		}
		s.mu.Lock()
		s.reads++
		if off == 0 || s.page == nil {
			s.page = s.log(s.headers)
			s.headers++
		}
		page := s.page
		s.mu.Unlock()
		b := make([]byte, n) // past the end of the log: zeros
		if off < uint64(len(page)) {
			copy(b, page[off:])
		}
		return tcp.Response{Data: b}
	}
	return tcp.Response{Completion: nvme.Completion{Status: nvme.StatusInvalidOpcode | nvme.StatusDNR}}
}

// stats returns the header reads and Get Log Page commands so far.
func (s *discServer) stats() (headers, reads int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.headers, s.reads
}

// nvmEntry is the discovery log entry of subsystem nqn at addr (host:port).
func nvmEntry(t *testing.T, nqn, addr string) nvme.DiscoveryEntry {
	return tcpEntry(t, nvme.SubtypeNVM, nqn, addr)
}

// referral is a referral entry to the discovery controller at addr.
func referral(t *testing.T, addr string) nvme.DiscoveryEntry {
	return tcpEntry(t, nvme.SubtypeReferral, nvme.DiscoveryNQN, addr)
}

func tcpEntry(t *testing.T, subtype uint8, nqn, addr string) nvme.DiscoveryEntry {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return nvme.DiscoveryEntry{TransportType: nvme.TransportTCP, AddressFamily: 1, SubsystemType: subtype,
		CNTLID: nvme.DynamicController, AdminQueueMax: 32, ServiceID: p, SubsystemNQN: nqn, Address: h}
}
