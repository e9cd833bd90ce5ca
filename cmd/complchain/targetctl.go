package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/complchain/complchain/nvme/target"
	"github.com/complchain/complchain/nvme/target/control"
)

// ctlFlags are the flags every "target ctl" verb takes.
type ctlFlags struct {
	path    string // control socket
	output  string // table or json
	nqn     string
	timeout time.Duration
}

func newTargetCtlCmd() *cobra.Command {
	var fl ctlFlags
	cmd := &cobra.Command{
		Use:   "ctl",
		Short: "Change a running target through its control socket",
		Long: `ctl changes a running "complchain target --control PATH" through the
socket PATH: it lists the subsystems, namespaces, allowed hosts and ports,
attaches, detaches and resizes namespaces, allows or disallows hosts and
sets a port's ANA states.
Each change raises what the NVMe specification says on connected hosts:
a namespace change the namespace attribute changed event (Linux rescans,
adds or removes the disk, or changes its size), a host change the
discovery log's GENCTR and the Discovery Log Page Change notice, an ANA
state the ANA change notice on the controllers connected through the port.
docs/target-control.md describes the HTTP API
under it.`,
		Example: `  complchain target --control /tmp/ct.sock &
  complchain target ctl --control /tmp/ct.sock list
  complchain target ctl --control /tmp/ct.sock attach --nsid 5 --size 2G
  complchain target ctl --control /tmp/ct.sock resize --nsid 5 --size 4G
  complchain target ctl --control /tmp/ct.sock detach --nsid 5
  complchain target ctl --control /tmp/ct.sock allow-host nqn.2014-08.org.nvmexpress:uuid:…`,
		Args: cobra.NoArgs,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&fl.path, "control", "", "control socket of the running target (its --control PATH)")
	pf.StringVarP(&fl.output, "output", "o", "table", "output format: table or json")
	pf.StringVar(&fl.nqn, "nqn", target.DefaultNQN, "subsystem NQN the verb acts on")
	pf.DurationVar(&fl.timeout, "timeout", time.Minute, "time the target has to answer (it answers within 30 s or closes the connection); 0: no limit")
	cmd.MarkPersistentFlagRequired("control")
	cmd.AddCommand(fl.listCmd(), fl.attachCmd(), fl.detachCmd(), fl.resizeCmd(),
		fl.hostCmd("allow-host", "Allow a host NQN to connect to the subsystem", (*control.Client).AllowHost),
		fl.hostCmd("disallow-host", "Remove a host NQN from the subsystem's allowed hosts", (*control.Client).DisallowHost),
		fl.anaCmd())
	return cmd
}

// run calls f with a client of the control socket, after checking -o.
func (fl *ctlFlags) run(f func(*control.Client) error) error {
	if fl.output != "table" && fl.output != "json" {
		return fmt.Errorf("unknown output format %q (want table or json)", fl.output)
	}
	c := control.NewClient(fl.path)
	c.SetTimeout(fl.timeout)
	defer c.Close()
	return f(c)
}

// print writes v as JSON, or calls table.
func (fl *ctlFlags) print(w io.Writer, v any, table func()) error {
	if fl.output == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	table()
	return nil
}

func (fl *ctlFlags) listCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the subsystems with their namespaces and allowed hosts, and the ports",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return fl.run(func(c *control.Client) error {
				subs, err := c.Subsystems(cmd.Context())
				if err != nil {
					return err
				}
				ports, err := c.Ports(cmd.Context())
				if err != nil {
					return err
				}
				w := cmd.OutOrStdout()
				doc := struct {
					Subsystems []control.Subsystem `json:"subsystems"`
					Ports      []control.Port      `json:"ports"`
				}{subs, ports}
				return fl.print(w, doc, func() {
					for _, s := range subs {
						fmt.Fprintf(w, "subsystem %s (max NSID %d), %s\n", printable(s.NQN), s.MaxNSID, hostsText(s))
						for _, ns := range s.Namespaces {
							fmt.Fprintf(w, "  %s\n", namespaceText(ns))
						}
					}
					for _, p := range ports {
						fmt.Fprintf(w, "port %d on %s\n", p.PortID, printable(p.Addr))
					}
				})
			})
		},
	}
}

func (fl *ctlFlags) attachCmd() *cobra.Command {
	var (
		nsid      uint32
		size      string
		blockSize uint32
	)
	cmd := &cobra.Command{
		Use:   "attach --nsid N [--size SIZE] [--block-size 512|4096]",
		Short: "Attach a namespace to the subsystem",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req := control.AttachRequest{NSID: nsid, BlockSize: blockSize}
			if size != "" {
				n, err := parseSize(size)
				if err != nil {
					return fmt.Errorf("--size: %w", err)
				}
				req.Size = n
			}
			return fl.run(func(c *control.Client) error {
				ns, err := c.Attach(cmd.Context(), fl.nqn, req)
				if err != nil {
					return err
				}
				return fl.print(cmd.OutOrStdout(), ns, func() {
					fmt.Fprintf(cmd.OutOrStdout(), "attached %s\n", namespaceText(ns))
				})
			})
		},
	}
	cmd.Flags().Uint32Var(&nsid, "nsid", 0, "NSID of the new namespace (1..the subsystem's max NSID)")
	cmd.Flags().StringVar(&size, "size", "", "size in bytes (suffixes K, M, G, T); default the target's --ns-size")
	cmd.Flags().Uint32Var(&blockSize, "block-size", 0, "logical block size, 512 or 4096; default the target's --block-size")
	cmd.MarkFlagRequired("nsid")
	return cmd
}

func (fl *ctlFlags) detachCmd() *cobra.Command {
	var nsid uint32
	cmd := &cobra.Command{
		Use:   "detach --nsid N",
		Short: "Detach a namespace from the subsystem, dropping its data",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return fl.run(func(c *control.Client) error {
				if err := c.Detach(cmd.Context(), fl.nqn, nsid); err != nil {
					return err
				}
				return fl.print(cmd.OutOrStdout(), control.Namespace{NSID: nsid}, func() {
					fmt.Fprintf(cmd.OutOrStdout(), "detached nsid %d\n", nsid)
				})
			})
		},
	}
	cmd.Flags().Uint32Var(&nsid, "nsid", 0, "NSID of the namespace")
	cmd.MarkFlagRequired("nsid")
	return cmd
}

func (fl *ctlFlags) resizeCmd() *cobra.Command {
	var (
		nsid uint32
		size string
	)
	cmd := &cobra.Command{
		Use:   "resize --nsid N --size SIZE",
		Short: "Change a namespace's size; hosts see the new capacity",
		Long: `resize sets a namespace's size, a multiple of its block size. Identify
Namespace reports the new NSZE and NCAP and connected hosts get the
namespace attribute changed event: Linux revalidates the namespace and
changes its disk's size. Shrinking drops the data beyond the new size.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			n, err := parseSize(size)
			if err != nil {
				return fmt.Errorf("--size: %w", err)
			}
			return fl.run(func(c *control.Client) error {
				ns, err := c.Resize(cmd.Context(), fl.nqn, nsid, n)
				if err != nil {
					return err
				}
				return fl.print(cmd.OutOrStdout(), ns, func() {
					fmt.Fprintf(cmd.OutOrStdout(), "resized %s\n", namespaceText(ns))
				})
			})
		},
	}
	cmd.Flags().Uint32Var(&nsid, "nsid", 0, "NSID of the namespace")
	cmd.Flags().StringVar(&size, "size", "", "new size in bytes (suffixes K, M, G, T)")
	cmd.MarkFlagRequired("nsid")
	cmd.MarkFlagRequired("size")
	return cmd
}

// hostCmd returns the verb name that changes the allowed hosts by change.
func (fl *ctlFlags) hostCmd(name, short string, change func(*control.Client, context.Context, string, string) (control.Subsystem, error)) *cobra.Command {
	return &cobra.Command{
		Use:   name + " HOSTNQN",
		Short: short,
		Long: short + `. A subsystem with allowed hosts lets only them connect
and lists itself in the discovery log only to them; the log's GENCTR
increments. Controllers already connected stay, as with Linux's nvmet.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return fl.run(func(c *control.Client) error {
				s, err := change(c, cmd.Context(), fl.nqn, args[0])
				if err != nil {
					return err
				}
				return fl.print(cmd.OutOrStdout(), s, func() {
					fmt.Fprintf(cmd.OutOrStdout(), "subsystem %s: %s\n", printable(s.NQN), hostsText(s))
				})
			})
		},
	}
}

func hostsText(s control.Subsystem) string {
	if s.AllowAnyHost {
		return "any host"
	}
	if len(s.AllowedHosts) == 0 {
		return "no host"
	}
	hosts := make([]string, len(s.AllowedHosts))
	for i, h := range s.AllowedHosts {
		hosts[i] = printable(h)
	}
	return "hosts " + strings.Join(hosts, ", ")
}

func namespaceText(ns control.Namespace) string {
	return fmt.Sprintf("nsid %d: %s (%d bytes), %d-byte blocks", ns.NSID, sizeText(ns.Size), ns.Size, ns.BlockSize)
}

// sizeText writes a byte count with the largest suffix that divides it.
func sizeText(n uint64) string {
	for i := 4; i > 0; i-- {
		if u := uint64(1) << (10 * i); n >= u && n%u == 0 {
			return fmt.Sprintf("%d%c", n/u, "KMGT"[i-1])
		}
	}
	return fmt.Sprint(n)
}

// serveWithControl serves the control API of t on a socket at path while
// serve runs, and prints where. If the socket cannot be created it closes
// lns and returns the error.
func serveWithControl(ctx context.Context, w io.Writer, path string, t *target.Target, serve func(context.Context) error, lns []net.Listener) error {
	ln, err := control.Listen(path)
	if err != nil {
		for _, l := range lns {
			l.Close()
		}
		return fmt.Errorf("--control: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		err := control.Serve(ctx, ln, t)
		cancel()
		done <- err
	}()
	fmt.Fprintf(w, "control socket %s (complchain target ctl --control %s)\n", printable(path), printable(path))
	err = serve(ctx)
	cancel()
	if cerr := <-done; err == nil && cerr != nil {
		err = fmt.Errorf("--control: %w", cerr)
	}
	return err
}
