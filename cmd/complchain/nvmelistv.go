package main

import (
	"encoding/json"
	"io"
	"net"
	"strconv"

	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/nvme/fabric"
	"github.com/complchain/complchain/nvme/scan"
)

// The shape of nvme-cli 2.3's "nvme list -v -o json" (json_detail_list),
// key for key (testdata/nvme-list-v-2.3.json is what it printed for a
// Linux 6.1 host): hosts, their subsystems, each subsystem's controllers
// and each controller's namespaces. Without native multipath, as here,
// namespaces belong to controllers, and Paths and the subsystem's
// Namespaces are empty. Later nvme-cli versions add Slot to controllers
// and Generic to namespaces.
type (
	jsonHost struct {
		HostNQN    wireString
		HostID     string
		Subsystems []*jsonSubsystem
	}
	jsonSubsystem struct {
		Subsystem    string // nvme-subsys<n>
		SubsystemNQN wireString
		Controllers  []*jsonController
		Namespaces   []jsonNamespace
	}
	jsonController struct {
		Controller   string // nvme<n>
		SerialNumber wireString
		ModelNumber  wireString
		Firmware     wireString
		Transport    string
		Address      string // as the kernel's address attribute: traddr=…,trsvcid=…
		Namespaces   []jsonNamespace
		Paths        []jsonPath // with native multipath (scan --multipath)
	}
	jsonPath struct {
		Path     string // nvme<S>c<C>n<N>
		ANAState string // nvme.ANAState's name; "" without ANA
	}
	jsonNamespace struct {
		NameSpace    string // device name
		NSID         uint32
		UsedBytes    uint64
		MaximumLBA   uint64
		PhysicalSize uint64
		SectorSize   uint32
	}
)

// printJSONVerbose prints ctrls as nvme-cli's "nvme list -v -o json":
// one host, the subsystems numbered nvme-subsys0, 1, … in the order of
// their first controller, each with its controllers in instance order.
// Strings from the wire are escaped as printJSON escapes them; libnvme's
// values (serial, model, firmware) are cut as libnvmeAttr cuts them.
func printJSONVerbose(w io.Writer, ctrls []*fabric.Controller) error {
	h := &jsonHost{Subsystems: []*jsonSubsystem{}}
	bySubsys := map[string]*jsonSubsystem{}
	for _, c := range ctrls {
		if h.HostNQN == "" {
			h.HostNQN, h.HostID = wireString(c.Ctrl.HostNQN()), string(nvme.AppendUUID(nil, c.Ctrl.HostID()))
		}
		id := c.Ctrl.IdentifyController()
		nqn := id.SubNQN
		if nqn == "" {
			nqn = c.Port.NQN
		}
		ss := bySubsys[nqn]
		if ss == nil {
			ss = &jsonSubsystem{Subsystem: "nvme-subsys" + strconv.Itoa(len(h.Subsystems)), SubsystemNQN: wireString(nqn),
				Controllers: []*jsonController{}, Namespaces: []jsonNamespace{}}
			bySubsys[nqn] = ss
			h.Subsystems = append(h.Subsystems, ss)
		}
		jc := &jsonController{Controller: c.Name, SerialNumber: wireString(libnvmeAttr(id.SerialNumber)),
			ModelNumber: wireString(libnvmeAttr(id.ModelNumber)), Firmware: wireString(libnvmeAttr(id.Firmware)),
			Transport: "tcp", Address: kernelAddress(c.Ctrl.Addr()), Namespaces: []jsonNamespace{}, Paths: []jsonPath{}}
		for _, ns := range byName(c.Scanner.Namespaces()) {
			jc.Namespaces = append(jc.Namespaces, newJSONNamespace(ns.Name, ns))
		}
		ss.Controllers = append(ss.Controllers, jc)
	}
	return writeHosts(w, h, len(ctrls) > 0)
}

// newJSONNamespace is ns, named name, as nvme list -v -o json shows it.
func newJSONNamespace(name string, ns *scan.Namespace) jsonNamespace {
	bs := uint64(ns.BlockSize)
	return jsonNamespace{NameSpace: name, NSID: ns.NSID,
		UsedBytes: ns.Used * bs, MaximumLBA: ns.Size, PhysicalSize: ns.Size * bs, SectorSize: ns.BlockSize}
}

// writeHosts writes nvme list -v -o json's Devices: h if show, else
// none.
func writeHosts(w io.Writer, h *jsonHost, show bool) error {
	hosts := []*jsonHost{}
	if show {
		hosts = append(hosts, h)
	}
	b, err := json.MarshalIndent(struct{ Devices []*jsonHost }{hosts}, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// kernelAddress is a controller's address as Linux's address attribute
// shows an NVMe/TCP controller's: "traddr=<IP>,trsvcid=<port>", without
// the ",src_addr=<IP>" Linux adds.
func kernelAddress(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "traddr=" + addr
	}
	return "traddr=" + host + ",trsvcid=" + port
}
