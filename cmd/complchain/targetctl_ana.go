package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/complchain/complchain/nvme/target/control"
)

func (fl *ctlFlags) anaCmd() *cobra.Command {
	var (
		portID uint16
		grpid  uint32
	)
	cmd := &cobra.Command{
		Use:   "ana --portid N [--grpid G] STATE",
		Short: "Set the ANA state of a group through a port",
		Long: `ana sets the Asymmetric Namespace Access state of ANA group G through
port N (its PORTID, 1, 2, … in --listen order): optimized, non-optimized,
inaccessible, persistent-loss or change, as writing a port's ana_state in
Linux's nvmet configfs. Hosts connected through the port get the ANA
change notice and read the ANA log; a Linux host moves its I/O to the
paths left optimized.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return fl.run(func(c *control.Client) error {
				a, err := c.SetANAState(cmd.Context(), portID, grpid, args[0])
				if err != nil {
					return err
				}
				return fl.print(cmd.OutOrStdout(), a, func() {
					fmt.Fprintf(cmd.OutOrStdout(), "port %d, ANA group %d: %s\n", a.PortID, a.GRPID, printable(a.State))
				})
			})
		},
	}
	cmd.Flags().Uint16Var(&portID, "portid", 0, "PORTID of the port (1, 2, … in the target's --listen order)")
	cmd.Flags().Uint32Var(&grpid, "grpid", 1, "ANA group ID")
	cmd.MarkFlagRequired("portid")
	return cmd
}
