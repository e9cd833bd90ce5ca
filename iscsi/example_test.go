package iscsi_test

import (
	"context"
	"fmt"

	"github.com/complchain/complchain/iscsi"
	"github.com/complchain/complchain/scanmode"
	"github.com/complchain/complchain/scsi"
)

// Serve two emulated hosts over iSCSI, discover them, and scan them as
// SCSI hosts at once: disks are named in host order.
func Example() {
	ctx := context.Background()
	tg := iscsi.NewTarget(iscsi.TargetConfig{Hosts: []*scsi.Host{
		{LUNs: 2, Vendor: "LIO-ORG", Product: "RAMDISK-MCP"},
		{LUNs: 1, Vendor: "LIO-ORG", Product: "RAMDISK-MCP"},
	}})
	addr, err := tg.Start(ctx, "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer tg.Close()

	targets, err := iscsi.Discover(ctx, addr, iscsi.Config{})
	if err != nil {
		panic(err)
	}
	s := &scsi.Scanner{Mode: scanmode.Ordered}
	for _, t := range targets {
		h := iscsi.NewHost(addr, iscsi.Config{TargetName: t.Name})
		defer h.Close(ctx)
		s.AddHost(ctx, h) // logs in on its first command
	}
	s.WaitScans(ctx)
	s.Close()
	for _, d := range s.Devices() {
		fmt.Println(d.Addr, d.Name, d.Vendor, d.Product)
	}
	// Output:
	// 0:0:0:0 sda LIO-ORG RAMDISK-MCP
	// 0:0:0:1 sdb LIO-ORG RAMDISK-MCP
	// 1:0:0:0 sdc LIO-ORG RAMDISK-MCP
}

// Run one command on a session: REPORT LUNS.
func ExampleDial() {
	ctx := context.Background()
	tg := iscsi.NewTarget(iscsi.TargetConfig{Hosts: []*scsi.Host{{LUNs: 3}}})
	addr, _ := tg.Start(ctx, "")
	defer tg.Close()

	s, err := iscsi.Dial(ctx, addr, iscsi.Config{TargetName: tg.Name(0)})
	if err != nil {
		panic(err)
	}
	defer s.Logout(ctx)
	r, err := s.Command(ctx, scsi.Addr{}, scsi.ReportLUNsCDB(4096))
	if err != nil {
		panic(err)
	}
	luns, _ := scsi.ParseReportLUNs(r.Data)
	fmt.Println(s.TargetName(), luns)
	// Output: iqn.2026-01.io.example:host0 [0 1 2]
}
