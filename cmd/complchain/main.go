// Command complchain scans NVMe over TCP controllers and emulated SCSI hosts
// concurrently while naming what it finds in a deterministic order, using
// the completion chain of package complchain.
//
// With no arguments beyond the subcommand, "complchain scan" starts an
// embedded NVMe/TCP target on loopback and scans it. See "complchain help".
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// subcommands holds the constructors of the subcommands; each file that
// defines one appends to it from an init function.
var subcommands []func() *cobra.Command

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "complchain",
		Short: "Concurrent discovery with deterministic naming: NVMe/TCP namespace scan and SCSI host scan",
		Long: `complchain does slow discovery work concurrently yet registers the results
in a deterministic order, using a completion chain.

It speaks NVMe over TCP: "complchain scan" scans a target's namespaces
(an embedded one on loopback by default) and names them in list order;
"complchain target" serves an emulated NVMe subsystem that Linux can
connect to; "complchain bench" compares the scan modes; "complchain scsi"
runs the asynchronous SCSI host scan on emulated hosts.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	for _, c := range subcommands {
		root.AddCommand(c())
	}
	return root
}

func main() {
	runCPULoad() // as bench --cpu-load's sibling, spin instead
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd().ExecuteContext(ctx)
	interrupted := ctx.Err() != nil
	stop()
	switch {
	case err != nil && interrupted && errors.Is(err, context.Canceled):
		fmt.Fprintln(os.Stderr, "complchain: interrupted")
		os.Exit(130)
	case err != nil:
		fmt.Fprintf(os.Stderr, "complchain: %s\n", printable(err.Error())) // errors may quote a peer's strings
		os.Exit(1)
	}
}
