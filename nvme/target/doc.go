// Package target is an emulated NVMe fabric served over NVMe/TCP: the
// software counterpart of Linux's nvmet-tcp, for tests, benchmarks and the
// complchain CLI. A real Linux host can discover it, connect to it and use
// its namespaces as block devices.
//
// A Target holds NVM subsystems (each with its NQN, serial and model,
// namespaces that can be attached and detached at run time, and faults)
// and answers on the same ports for the discovery subsystem,
// nqn.2014-08.org.nvmexpress.discovery, whose log page lists them.
// Controllers are created dynamically by Connect commands (cntlid 0xFFFF),
// each with an admin queue and I/O queues on further connections; CNTLIDs
// are unique in the Target. A Connect to an NQN the Target does not serve
// fails with Connect Invalid Parameters, IATTR 1 and IPO 256 (SUBNQN in the
// Connect data).
//
// # Use
//
// New builds a Target from a Config; Serve serves it on a listener, and
// Start is the shortcut tests, benchmarks and the CLI use: it listens on
// 127.0.0.1:0 (or a given address), serves in the background and returns
// the address. Close stops everything.
//
// Config describes one subsystem with its fields NQN to MaxNSID, or
// several with Subsystems; New checks all of it and names the first field
// in error. Subsystem(nqn) returns a subsystem's handle: its Attach and
// Detach change its namespaces at run time, its SetFaults its faults.
// Target's Attach, Detach, Namespaces, WriteAt, ReadAt and NQN act on the
// first subsystem; Target.SetFaults changes the faults of every subsystem
// and connection.
//
//	t, err := target.New(target.Config{Namespaces: 100, Delay: 75 * time.Millisecond})
//	if err != nil {
//		return err
//	}
//	defer t.Close()
//	addr, err := t.Start(ctx, "")
//
// # Ports and the discovery log
//
// Each listener served (Serve, ServePort, Start) is a port with a PORTID:
// the next free one from 1, or PortConfig.PortID. Every port serves every
// subsystem and the discovery subsystem. The discovery log page (70h)
// lists, port by port in PORTID order, an entry for each subsystem the
// reading host may connect to (in Config order): TRTYPE 3 (TCP), ADRFAM 1
// or 2 (IPv4, IPv6), SUBTYPE 2, TREQ 0 (not specified), the PORTID, CNTLID
// FFFFh, ASQSZ Config.AdminQueueDepth, TRSVCID the port number and TRADDR
// the listener's IP address — for a wildcard listener the address the
// host connected to, as Linux's nvmet gives. Referrals (Config.Referrals,
// AddReferral) follow as entries of SUBTYPE 1. GENCTR increments when a
// port starts or stops being served, when a referral is added or removed
// and when a subsystem's allowed hosts change, not when namespaces change;
// Faults.DiscoveryChanges moves it between a host's reads on demand. Each
// of those changes but the fault raises the Discovery Log Page Change
// notice (AEN type 2h, information F0h, log 70h) on discovery controllers
// that enabled it (Asynchronous Event Configuration bit 31, OAES bit 31),
// masked once reported until the host reads the log, as Linux's nvmet.
//
// Ordering knobs: SubsystemConfig.ConnectDelay and PortConfig.ConnectDelay
// delay each Connect that creates a controller, SubsystemConfig.IdentifyDelay
// each Identify, so that tests make the controllers of a fabric answer in
// the order they choose (reverse, or shuffled with a seed).
//
// # Access control
//
// As with Linux's nvmet, a subsystem allows any host (New logs it) or only
// the host NQNs in SubsystemConfig.AllowedHosts. A Connect from another
// host fails with Connect Invalid Host (SCT 1h, SC 84h: status 184h; IATTR
// 1, IPO 512, HOSTNQN) and a warning naming the host and subsystem NQNs;
// its discovery log lists only the subsystems it may connect to. Every
// host may connect to the discovery subsystem. Subsystem.AllowHost,
// DisallowHost and AllowAnyHost change the hosts at run time (GENCTR
// increments); connected controllers stay.
//
// # Asymmetric Namespace Access
//
// As with Linux's nvmet, each namespace is in an ANA group
// (Namespace.ANAGRPID, 1 by default, at most MaxANAGroups) and each port
// gives each group a state, optimized unless PortConfig.ANAStates or
// Target.SetANAState says otherwise: a host connected through two ports
// sees each namespace on two paths. Identify Controller reports ANA
// (CMIC bit 3, ANACAP 1Fh, ANATT 10 s, ANAGRPMAX and NANAGRPID 128, MNAN
// NN up to 65536, OAES bit 11), Identify Namespace (CNS 00h and 08h) the
// group, and the ANA log page (0Ch, Return Groups Only honoured) group 1,
// each group of a namespace and each group the port gives a state, with
// the states of the port the controller's admin queue came through and a
// change count per port. SetANAState raises the ANA change notice (type
// 2h, information 03h, log 0Ch) on that port's controllers that enabled
// it, masked until the log is read without RAE. Read, Write and Flush of
// a namespace whose group is inaccessible, in persistent loss or changing
// through the port fail with Asymmetric Access Inaccessible (302h),
// Persistent Loss (301h) or Transition (303h).
//
// # Controller model
//
// The target reports NVMe version 1.4. With it a Linux 6.1 host uses the
// Identify CNS 02h namespace list, reads the namespace identification
// descriptors (CNS 03h) and then Identify Namespace (CNS 00h); CNS 06h and
// 08h are answered as well, so newer hosts find what they ask for.
//
// The properties follow the controller state machine of the base
// specification: setting CC.EN raises CSTS.RDY, clearing it drops RDY and
// closes the controller's I/O queues, and a shutdown notification (CC.SHN)
// completes at once (CSTS.SHST = 10b). Admin and I/O commands other than
// fabrics commands fail with Command Sequence Error until CSTS.RDY is set.
//
// Queue sizes follow Linux's nvmet: I/O queues of up to
// Config.IOQueueDepth entries (default 1024, reported as CAP.MQES+1 and
// MAXCMD), and admin queues of up to Config.AdminQueueDepth entries
// (default 32, reported as ASQSZ in the discovery log page). A Connect
// asking for more fails with Connect Invalid Parameters on SQSIZE. A Linux
// host's I/O queues of 128 entries fit, with no "clamping down" in its log.
//
// Keep Alive: a controller connected with a non-zero KATO is torn down —
// its admin and I/O connections closed — when no command arrived on any of
// its queues for KATO plus twice Config.Delay (a command sent just in time
// still needs one link delay to arrive).
//
// Namespaces keep their data in a Backend: sparse memory by default, in
// which only written 4 KiB chunks exist, so a 1 TiB namespace costs what
// was written to it, and unwritten blocks read as zeros; or a FileBackend,
// a regular file (created sparse) or a block device, whose data outlives
// the target. Write Zeroes and Dataset Management deallocate are supported
// (ONCS); a backend that Deallocates frees the blocks, which then read as
// zeros (DLFEAT). On others deallocation is a hint that writes nothing,
// DLFEAT reports nothing of what deallocated blocks read, and Write Zeroes
// writes zeros. Flush syncs a FileBackend. Identifiers (NGUID,
// EUI-64, UUID) not given are derived from the subsystem NQN and the NSID,
// so they are stable.
//
// Attaching, detaching or resizing (Subsystem.Resize) a namespace adds its
// NSID to the Changed Namespace List log page (04h) of every controller of
// its subsystem and, on those that enabled namespace attribute notices
// (Set Features 0Bh bit 8), completes an outstanding Asynchronous Event
// Request with "namespace attribute changed"; further events wait until
// the host has read the log page.
//
// # Transport
//
// Each connection negotiates header and data digests as the host asks
// (ICReq), accepts up to 8 KiB of in-capsule data per command (IOCCSZ),
// asks for larger writes with one R2T and takes H2CData PDUs of up to
// 128 KiB (MAXH2CDATA), and returns read data in one C2HData PDU. A command
// moves at most 1 MiB (MDTS). Commands run concurrently and complete in
// any order; a host may have up to twice the queue depth outstanding, as
// with Linux's nvmet-tcp. Protocol errors end the connection with a
// C2HTermReq. No command but Connect runs before a Connect succeeded
// (Command Sequence Error).
//
// Config.Limits bounds what hosts may make the target hold: connections
// in all and per source address, the time to connect and to send a
// write's data, and the write buffers held between R2T and execution, per
// connection and in all. docs/robustness.md lists every limit with its
// default and flag.
//
// # Faults
//
// Faults (set in Config or at run time with SetFaults, for every
// subsystem; in SubsystemConfig or with Subsystem.SetFaults, for one) let
// tests and the CLI script failures: a status for every command naming a
// namespace, extra latency for chosen namespaces or only for the Identify
// commands that identify them (IdentifyDelay, with profiles from
// ParseIdentifyDelay: the naming race of an asynchronously scanning host,
// on demand), namespaces whose commands are never answered, connections
// dropped after a number of commands, a malformed PDU, Identify data
// rewritten by a function (a controller that reports nonsense), and a
// discovery log whose GENCTR moves between reads.
package target
