// Package fabric scans an NVMe over Fabrics fabric: it reads the discovery
// logs of one or more discovery controllers, following referrals, connects
// to every NVM subsystem port they list (or to ports given directly), all
// at once, and scans the namespaces of every controller at once, each
// controller with its own scan.Scanner. It is the level above package
// scan: many controllers instead of one.
//
// # Discovery
//
// Discover reads each discovery controller's log as
// host.Controller.DiscoveryLog does (the header, then the records in
// bounded chunks, again while GENCTR changes, at most
// host.MaxDiscoveryRecords records). Referral entries (SUBTYPE 1) are
// followed once each, concurrently; a discovery controller is read at most
// once, whatever refers to it (the visited set is keyed by the address
// dialled, spelled one way: ::ffff:127.0.0.1 is 127.0.0.1), and a referral back to a discovery controller that led to it
// is a loop, reported and not followed. At most
// DiscoverConfig.MaxDiscoveryControllers are read in all. NVM subsystem
// entries (SUBTYPE 2) with the same SUBNQN and the same address are one
// port: the repeats are reported as duplicates. Entries of another
// transport than TCP, or whose TRADDR is not an IP address (a zone
// included) or whose TRSVCID is not a port number, or whose SUBNQN is
// empty or longer than nvme.MaxNQNLen, are reported and skipped; no name
// is ever looked up. ADRFAM is not checked: TRADDR alone decides, as for
// Linux's nvme-tcp.
//
// The ports come out in a deterministic order, whatever the timing of the
// reads: the discovery controllers in the order given, each one's entries
// in log order, each referral's ports in the referral's place.
//
// A discovery log lists the addresses the subsystem advertises, which a
// host behind NAT or a port forward cannot always reach (a Linux target
// in a virtual machine advertises the guest's own address).
// DiscoverConfig.AddrMap dials chosen advertised addresses at others;
// DiscoverConfig.UseDiscoveryAddr dials every NVM subsystem entry at the
// address its log was read from. Neither happens by itself when an
// advertised address fails: that would hide a wrong log, and an address
// that is not the target's may still answer (on the machine these were
// tested on, 10.0.2.15:4420, a Linux guest's own address, answered with
// HTTP).
//
// # Controller probe
//
// Scanner.Scan connects to every port at once and brings each controller
// up, and each controller takes its instance number (nvme0, nvme1, …)
// under Scanner.Mode:
//
//   - Ordered: in port order, through a complchain.Chain: a controller
//     that answers slowly never renumbers the others, and one that fails
//     takes no number, the others being numbered as if it were absent.
//   - Async: in the order controllers come up (the race: names depend on
//     timing).
//   - Sync: one controller after another, each connected and scanned
//     before the next.
//
// As soon as a controller is up, its namespaces are scanned by a
// scan.Scanner of the same mode, concurrently with the other controllers';
// they are identified at once and named once the controller has its number
// (scan.Scanner.ControllerReady). In ordered mode a controller's
// namespaces therefore wait, identified, for the controllers before it to
// come up or to fail (within Scanner.ConnectTimeout) before they are
// named.
package fabric
