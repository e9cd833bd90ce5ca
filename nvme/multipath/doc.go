// Package multipath joins the paths to one namespace into a namespace
// head and names heads and paths as Linux native NVMe multipath does:
// nvme<S>n<N> for the head and nvme<S>c<C>n<N> for each path, S being the
// subsystem instance, C the controller instance and N the head instance.
//
// A namespace reachable through several controllers of one subsystem
// (same subsystem NQN, same NSID) is one head, provided its identifiers
// agree: a path whose NGUID, EUI64, UUID or command set differ from the
// head's is refused with an *IDMismatchError, a namespace not marked shared
// (Identify Namespace NMIC bit 0) found on a second controller with
// ErrNotShared, and identifiers already used by another NSID of the
// subsystem with a *DuplicateIDError, as Linux's nvme_init_ns_head and
// nvme_subsys_check_duplicate_ids refuse them. Nothing is merged on a guess.
//
// # The race the kernel still has
//
// In Linux, nvme_ns_remove takes the last path's head off the subsystem's
// list under the subsystem lock, and tears the head's disk down
// (del_gendisk) after dropping it. An add event for the same NSID that
// comes in between finds no head, allocates a new one and adds a disk
// while the old one is still there: with NSID-based names, two disks
// named alike. Here every event of a subsystem (attach, detach, loss of a
// controller's paths) takes its place in a complchain.Chain when it
// begins (Subsystem.Begin), may do slow work concurrently, and changes
// heads only in its turn. A removal's turn covers the whole teardown:
// Hooks.DelDisk returns, then the name is freed, then the turn ends. An
// add that follows a removal therefore never sees the old head half torn
// down, never gets a name still in use, and never leaves a stale head.
//
// # Naming policies
//
// The three policies name heads; path names follow their head's.
//
//	policy      N is                            stable across           dense
//	index       smallest free number at         nothing: a rescan in    yes, in the order
//	            creation, in event order        another order renames   heads were created
//	nsid        the NSID                        everything              no: NSIDs 1, 10, 333
//	                                                                    give n1, n10, n333
//	persistent  the number recorded for the     rescans, restarts,      yes among recorded
//	            namespace's identity, else the  detach/attach, other    numbers
//	            smallest number not recorded    namespaces' changes
//
// Index is what Linux did before its asynchronous scan and what ordered
// registration gives back ("/dev/nvme0n1 always pointed to the first
// entry of the NSID list"): dense, but a name follows a position, not a
// namespace. NSID is the naming proposed upstream ("it will always
// enumerate with the same name even after you alter the other attached
// namespaces"), which needs this package's race closed, and is sparse.
// Persistent keeps a namespace's number by its identity (NGUID, else
// EUI64, else UUID, else subsystem NQN and NSID) in a Names file, so it
// is stable like nsid and dense like index: a new namespace takes the
// smallest number no recorded namespace holds. A recorded number stays
// with its namespace while the namespace is detached; Names.Forget frees
// it. docs/naming.md puts the three side by side.
package multipath
