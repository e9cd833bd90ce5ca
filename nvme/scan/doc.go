// Package scan discovers the namespaces of an NVMe controller concurrently
// and registers them in a deterministic order: the Go form of the Linux
// NVMe host's asynchronous namespace scan, ordered by a completion chain.
//
// # Modes
//
// Scanner.Mode is one of package scanmode's:
//
//   - Sync: one namespace at a time, its commands one after another, as
//     the sequential scan of older kernels.
//   - Async: every namespace at once, registered in the order their
//     identification finishes: names depend on timing (today's Linux).
//   - Ordered: every namespace at once, registered under a
//     complchain.Chain in list order, so nvme0n1 is always the first NSID of
//     the list, nvme0n2 the second, and so on.
//
// # Commands per namespace
//
// Linux (nvme_scan_ns) sends k = 3 admin commands per new NVM namespace,
// one after another: Identify CNS 03h (identification descriptors), CNS 00h
// (Identify Namespace), and CNS 00h again from nvme_update_ns_info. The
// second CNS 00h carries nothing new, and the first two do not depend on
// each other. In Async and Ordered modes this package sends CNS 03h and
// CNS 00h at the same time: k = 2 and one round trip per namespace, so a
// scan of N namespaces with admin queue depth Q takes about
// RTT × (1 + ceil(N·k/Q)), the bound Bound returns. Sync mode sends them one
// after another (k = 2, two round trips per namespace).
//
// The NSID list comes from Identify CNS 02h, 1024 NSIDs a page; the tasks
// of a page start as soon as the page arrives. A controller that does not
// support the list (a status with DNR) is scanned NSID by NSID, 1 to NN.
//
// In Async and Ordered modes the goroutine that reads the list sends each
// namespace's two commands as it goes, in list order, all those of a page
// (up to half the queue depth) before it hands their namespaces over: the
// commands of a page are on the wire within microseconds of the page's
// arrival. No goroutine waits for a namespace: the queue reports each
// answer (tcp.HostQueue.StartFunc), and one goroutine runs the namespaces
// whose answers are in, as they come, those that come together back to
// back. Concurrency is bounded by the admin queue: commands beyond its
// depth wait for a free command identifier. A namespace that is never
// answered holds its two command identifiers until the controller's
// command timeout, and holds up nothing else. Sync mode runs each
// namespace on the goroutine that reads the list.
//
// # Registration, failures, removal
//
// A task that has identified a new namespace hands its registration to
// the chain (complchain.Entry.Then) and returns: the registration runs as
// soon as every earlier task is done, in the goroutine that finished
// last, so namespaces that are identified in list order register back to
// back and no goroutine waits for its turn. While Scanner.ControllerReady
// is open, registrations queue, in order, and the scan goes on
// identifying.
//
// A namespace already registered is revalidated; its chain entry is
// completed before its commands are sent, so it never delays the others. A
// task that fails completes its entry on return (the kernel's "task failed
// early" path): the scan reports the failure and registers the rest.
// Registered namespaces missing from the list are removed in list order,
// through the chain too, and their instance numbers freed, so with Naming
// Index the smallest free instance goes to the next new namespace and
// names stay dense and in list order.
//
// # Untrusted data
//
// Nothing a controller reports is taken on trust. NSIDs above Identify
// Controller NN (or NSID FFFFFFFFh, the broadcast value) cannot name a
// namespace: the first such entry of the list is reported as the failure
// of its NSID (a *nvme.FieldError for field "NSID") and ends the list,
// since the list is increasing. The walk is bounded by NN: at most
// NN/1024+1 list pages, or NN probes without the list, NN being at most
// MaxNSID. Identify Namespace data that fails nvme.IdentifyNamespace
// Validate (an LBA format beyond NLBAF, an LBA data size outside 512 bytes
// to 64 KiB, NCAP above NSZE, a size that overflows 64 bits, …) is the
// failure of that namespace, which is not registered (or is removed, if
// it was), while the rest of the scan goes on. Scanner.Timeout (or ctx)
// bounds a scan as a whole, the controller's command timeout each command.
//
// # Persistent names
//
// The kernel gives each namespace block device a wwid attribute
// (drivers/nvme/host/sysfs.c, wwid_show) holding one identifier, the first
// of these that is not zero:
//
//	uuid.<UUID, 8-4-4-4-12 lower-case hex>
//	eui.<NGUID, 32 hex digits>
//	eui.<EUI64, 16 hex digits>
//	nvme.<VID, 4 hex digits>-<serial hex>-<model hex>-<NSID, 8 hex digits>
//
// the last with trailing spaces and NULs cut from the serial and model
// number, each byte as two hex digits. The identifiers are those of the
// Namespace Identification Descriptor list (CNS 03h, read from
// controllers of version 1.3 and later), where a zero NGUID or EUI64 is
// taken from Identify Namespace (version 1.2 and 1.1 and later).
//
// systemd's udev rules (rules.d/60-persistent-storage.rules, as of
// systemd v257) then make these /dev/disk/by-id links for a namespace
// block device, from the wwid, the controller's model and serial
// attributes and the nsid attribute (the NSID printed as a signed 32-bit
// number, "%d"):
//
//	nvme-<wwid>                  always
//	nvme-<model>_<serial>        NSID 1 only, model and serial without '/', not escaped
//	nvme-<model>_<serial>        NSID 1 only, escaped
//	nvme-<model>_<serial>_<nsid> escaped
//
// Model and serial are the sysfs values (up to the first NUL) with
// trailing white space removed and characters outside udev's safe set
// replaced, byte for byte as udev's $attr substitution,
// string_escape=replace and SYMLINK handling do (ByID). The
// model_serial links need both a model and a serial that are not empty.
// Not modelled: the kernel's per-device quirks that ignore identifiers
// (bogus NIDs, no descriptor list), and the -part<n> links of partitions.
package scan
