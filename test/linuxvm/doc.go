// Package linuxvm checks complchain against real Linux in qemu: a Linux
// NVMe/TCP host against the target (nvme/target), and the scan
// (nvme/scan) against Linux's nvmet-tcp target. Its tests build only with
// the linuxvm tag and are not part of "go test ./...":
//
//	go test -tags linuxvm -v ./test/linuxvm/
//
// The scripts beside this file install qemu, a Debian kernel and nvme-cli
// from Debian packages (apt-get, as root, the first time) and boot the
// kernel with a busybox userland; every connection stays on 127.0.0.1.
// LINUXVM_KERNEL=6.12 boots Debian 13's kernel instead of 6.1.
package linuxvm
