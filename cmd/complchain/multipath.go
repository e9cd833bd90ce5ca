package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"sync"

	"github.com/spf13/cobra"

	"github.com/complchain/complchain/nvme"
	"github.com/complchain/complchain/nvme/fabric"
	"github.com/complchain/complchain/nvme/multipath"
	"github.com/complchain/complchain/nvme/scan"
)

// multipathFlags are scan's flags for native multipath: heads joined over
// the controllers of a subsystem, and how they are named.
type multipathFlags struct {
	on        bool
	namesFile string
}

func (m *multipathFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.BoolVar(&m.on, "multipath", false, "join the namespaces of a subsystem's controllers into heads, as Linux native multipath: nvme<S>n<N> with paths nvme<S>c<C>n<N>; --naming then names heads: index, nsid or persistent")
	fl.StringVar(&m.namesFile, "names-file", "", "with --naming persistent: the state file keeping each namespace's head number (versioned JSON, written atomically)")
}

// naming returns the head naming --naming gives, and the names file it
// needs.
func (m *multipathFlags) naming(s string) (multipath.Naming, *multipath.Names, error) {
	n, err := multipath.ParseNaming(s)
	if err != nil {
		return 0, nil, err
	}
	if n != multipath.Persistent {
		if m.namesFile != "" {
			return 0, nil, fmt.Errorf("--names-file needs --naming persistent")
		}
		return n, nil, nil
	}
	if m.namesFile == "" {
		return 0, nil, fmt.Errorf("--naming persistent needs --names-file")
	}
	names, err := multipath.OpenNames(m.namesFile)
	return n, names, err
}

// headSubsystem is a subsystem's heads and the controllers they were
// joined over, by instance.
type headSubsystem struct {
	s     *multipath.Subsystem
	ctrls map[int]*fabric.Controller
	ns    map[int]map[uint32]*scan.Namespace // controller instance → NSID → namespace
}

// joinHeads joins the namespaces of ctrls (by instance) into heads, one
// multipath.Subsystem per subsystem NQN in the order of its first
// controller, whose instance it takes as Linux does. Each controller's
// namespaces are attached in NSID order, with the ANA state its ANA log
// gives their group. A path that cannot join (identifiers that differ, a
// namespace not shared) is reported in errs and left out.
func joinHeads(ctx context.Context, ctrls []*fabric.Controller, naming multipath.Naming, names *multipath.Names) (subs []*headSubsystem, errs []error) {
	byNQN := map[string]*headSubsystem{}
	for _, c := range ctrls {
		nqn := c.Ctrl.IdentifyController().SubNQN
		if nqn == "" {
			nqn = c.Port.NQN
		}
		hs := byNQN[nqn]
		if hs == nil {
			s, err := multipath.New(multipath.Config{NQN: nqn, Instance: c.Instance, Naming: naming, Names: names})
			if err != nil {
				return nil, []error{err}
			}
			hs = &headSubsystem{s: s, ctrls: map[int]*fabric.Controller{}, ns: map[int]map[uint32]*scan.Namespace{}}
			byNQN[nqn] = hs
			subs = append(subs, hs)
		}
		hs.ctrls[c.Instance] = c
		hs.ns[c.Instance] = map[uint32]*scan.Namespace{}
		log, _ := c.Ctrl.ANA() // nil without ANA: states stay 0
		for _, ns := range c.Scanner.Namespaces() {
			hs.ns[c.Instance][ns.NSID] = ns
			p := multipath.Path{Controller: c.Instance, CNTLID: c.Ctrl.CNTLID(), NSID: ns.NSID, Shared: ns.Shared, ANAGRPID: ns.ANAGRPID,
				IDs: nvme.NSIdentifiers{NGUID: ns.NGUID, EUI64: ns.EUI64, UUID: ns.UUID}}
			if log != nil {
				if g := log.Group(ns.ANAGRPID); g != nil {
					p.ANAState = g.State
				}
			}
			if _, err := hs.s.Attach(ctx, p); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", c.Name, err))
			}
		}
	}
	return subs, errs
}

// headList returns the heads of subs as nvme list rows: a namespace per
// head, named nvme<S>n<N> and ng<S>n<N>, with the sizes and controller
// fields of its first path, as Linux's head disk shows them.
func headList(subs []*headSubsystem) []listCtrl {
	var out []listCtrl
	for _, hs := range subs {
		for _, h := range hs.s.Heads() {
			p := h.Paths[0]
			ns := *hs.ns[p.Controller][h.NSID]
			ns.Name = h.Name()
			ns.Generic = "ng" + strconv.Itoa(h.Subsystem) + "n" + strconv.Itoa(h.Instance)
			out = append(out, listCtrl{hs.ctrls[p.Controller].Ctrl.IdentifyController(), []*scan.Namespace{&ns}})
		}
	}
	return out
}

// printJSONVerboseHeads prints subs as nvme-cli's "nvme list -v -o json"
// prints a host with native multipath (testdata/nvme-list-v-2.3-multipath.json):
// each subsystem's controllers, in instance order, with no namespaces of
// their own and a path per head they reach, with its ANA state; then the
// subsystem's heads as its namespaces.
func printJSONVerboseHeads(w io.Writer, subs []*headSubsystem) error {
	h := &jsonHost{Subsystems: []*jsonSubsystem{}}
	for _, hs := range subs {
		ss := &jsonSubsystem{Controllers: []*jsonController{}, Namespaces: []jsonNamespace{}}
		heads := hs.s.Heads()
		for _, inst := range slices.Sorted(maps.Keys(hs.ctrls)) {
			c := hs.ctrls[inst]
			if h.HostNQN == "" {
				h.HostNQN, h.HostID = wireString(c.Ctrl.HostNQN()), string(nvme.AppendUUID(nil, c.Ctrl.HostID()))
			}
			id := c.Ctrl.IdentifyController()
			jc := &jsonController{Controller: c.Name, SerialNumber: wireString(libnvmeAttr(id.SerialNumber)),
				ModelNumber: wireString(libnvmeAttr(id.ModelNumber)), Firmware: wireString(libnvmeAttr(id.Firmware)),
				Transport: "tcp", Address: kernelAddress(c.Ctrl.Addr()), Namespaces: []jsonNamespace{}, Paths: []jsonPath{}}
			for _, hd := range heads {
				for _, p := range hd.Paths {
					if p.Controller == inst {
						st := ""
						if p.ANAState != 0 {
							st = p.ANAState.String()
						}
						jc.Paths = append(jc.Paths, jsonPath{Path: hd.PathName(inst), ANAState: st})
					}
				}
			}
			ss.Controllers = append(ss.Controllers, jc)
		}
		for _, hd := range heads {
			ss.Namespaces = append(ss.Namespaces, newJSONNamespace(hd.Name(), hs.ns[hd.Paths[0].Controller][hd.NSID]))
		}
		ss.Subsystem = "nvme-subsys" + strconv.Itoa(hs.s.Instance())
		ss.SubsystemNQN = wireString(hs.s.NQN())
		h.Subsystems = append(h.Subsystems, ss)
	}
	return writeHosts(w, h, len(subs) > 0)
}

// printHeads joins ctrls into heads and prints them in the format asked;
// with persistent naming it saves the names file. Paths that cannot join
// are reported on stderr.
func printHeads(ctx context.Context, out, stderr io.Writer, ctrls []*fabric.Controller, naming multipath.Naming,
	names *multipath.Names, output string, verbose bool) ([]*headSubsystem, error) {
	subs, errs := joinHeads(ctx, ctrls, naming, names)
	for _, e := range errs {
		fmt.Fprintf(stderr, "not joined: %s\n", printable(e.Error()))
	}
	if subs == nil && len(errs) > 0 {
		return nil, errs[0]
	}
	var err error
	switch {
	case output == "json" && verbose:
		err = printJSONVerboseHeads(out, subs)
	case output == "json":
		err = printJSON(out, headList(subs))
	default:
		err = printTable(out, headList(subs))
	}
	if err == nil && names != nil {
		err = names.Save()
	}
	return subs, err
}

// watchHeads rescans each controller on its namespace notices and follows
// the heads: a namespace added on a controller joins its head (a new head
// is reported as added), one removed leaves it (the head is reported
// removed once its last path is gone), and a controller that stops loses
// all its paths. With persistent naming the names file is saved after
// each change.
func watchHeads(ctx context.Context, out, stderr io.Writer, subs []*headSubsystem, names *multipath.Names) error {
	fmt.Fprintln(stderr, "watching for namespace changes; interrupt to stop")
	var mu sync.Mutex // one report at a time
	var wg sync.WaitGroup
	for _, hs := range subs {
		for _, inst := range slices.Sorted(maps.Keys(hs.ctrls)) {
			c := hs.ctrls[inst]
			wg.Go(func() {
				err := c.Scanner.Watch(ctx, func(r *scan.Result, err error) {
					mu.Lock()
					defer mu.Unlock()
					if err != nil {
						fmt.Fprintf(stderr, "rescan of %s: %s\n", c.Name, printable(err.Error()))
						return
					}
					for _, ns := range r.Removed {
						h, _ := hs.s.Head(ns.NSID)
						if removed, err := hs.s.Detach(ctx, inst, ns.NSID); err == nil {
							delete(hs.ns[inst], ns.NSID)
							reportPath(out, "removed", h, inst, removed)
						}
					}
					for _, ns := range r.Added {
						_, existed := hs.s.Head(ns.NSID)
						p := multipath.Path{Controller: inst, CNTLID: c.Ctrl.CNTLID(), NSID: ns.NSID, Shared: ns.Shared, ANAGRPID: ns.ANAGRPID,
							IDs: nvme.NSIdentifiers{NGUID: ns.NGUID, EUI64: ns.EUI64, UUID: ns.UUID}}
						h, err := hs.s.Attach(ctx, p)
						if err != nil {
							fmt.Fprintf(stderr, "not joined: %s: %s\n", c.Name, printable(err.Error()))
							continue
						}
						hs.ns[inst][ns.NSID] = ns
						reportPath(out, "added  ", h, inst, !existed)
					}
					if names != nil {
						if err := names.Save(); err != nil {
							fmt.Fprintln(stderr, printable(err.Error()))
						}
					}
				})
				mu.Lock()
				defer mu.Unlock()
				if ctx.Err() == nil { // the controller stopped: its paths are lost
					fmt.Fprintf(stderr, "%s: %s\n", c.Name, printable(fmt.Sprint(err)))
					gone, _ := hs.s.DetachController(context.WithoutCancel(ctx), inst)
					for _, h := range gone {
						fmt.Fprintf(out, "removed /dev/%s (NSID %d)\n", h.Name(), h.NSID)
					}
				}
			})
		}
	}
	wg.Wait()
	return nil
}

// reportPath prints a path added or removed, and its head if the head
// came or went with it.
func reportPath(out io.Writer, what string, h multipath.Head, ctrl int, head bool) {
	if head {
		fmt.Fprintf(out, "%s /dev/%s (NSID %d)\n", what, h.Name(), h.NSID)
	}
	fmt.Fprintf(out, "%s path %s\n", what, h.PathName(ctrl))
}
