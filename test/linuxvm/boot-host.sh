#!/usr/bin/env bash
# boot-host.sh -p PORT [-P PATHS] [-n NQN] [-d DELAY_MS] [-g] [-w WAIT_S] [-e EXPECT_NS] [-i write|read [-s SLBA] [-b BLOCKS]]
# -i write: writes BLOCKS (16) random 4 KiB blocks to NSID 1's block device at 512-byte LBA SLBA (2048, a multiple of 8), reads them
#   back, then Write Zeroes the first 4 KiB and deallocates the next 4 KiB; -i read: reads them back (=== BEGIN io).
# -P n: connect to PORT, PORT+1, … PORT+n-1 (n paths to one subsystem: native multipath); also prints `nvme list -v -o json`.
# Boot a real Linux NVMe/TCP host (kernel nvme-tcp + nvme-cli) in qemu. It runs against the target
# listening on THIS machine's 127.0.0.1:PORT (the guest reaches it as 10.0.2.2:PORT):
#   nvme discover, nvme connect (-g: header+data digests), nvme list -o json, /dev listing, read of
#   sector 0 of nvme0n1, dmesg; with -e N also the time from connect until N namespaces are block devices (=== BEGIN scan) — each between "=== BEGIN x" / "=== END x" markers on stdout — then powers off.
set -euo pipefail
KERNEL=${KERNEL:-6.1}; if [ "$KERNEL" = 6.1 ]; then WORK=${WORK:-/tmp/complchain-linuxvm}; else WORK=${WORK:-/tmp/complchain-linuxvm-$KERNEL}; fi; export KERNEL WORK
PORT=""; NQN=nqn.2026-01.io.example:interop; D=0; G=0; W=5; E=0; P=1; IO=none; SLBA=2048; BLOCKS=16
while getopts p:n:d:gw:e:P:i:s:b: o; do case $o in P) P=$OPTARG;; p) PORT=$OPTARG;; n) NQN=$OPTARG;; d) D=$OPTARG;; g) G=1;; w) W=$OPTARG;; e) E=$OPTARG;;
  i) IO=$OPTARG;; s) SLBA=$OPTARG;; b) BLOCKS=$OPTARG;; *) exit 2;; esac; done
[ -n "$PORT" ] || { echo "usage: $0 -p PORT [-P PATHS] [-n NQN] [-d MS] [-g] [-w S] [-e N] [-i write|read [-s SLBA] [-b BLOCKS]]" >&2; exit 2; }
case $IO in none|write|read) ;; *) echo "-i: write or read" >&2; exit 2;; esac
[ $((SLBA % 8)) = 0 ] || { echo "-s: a multiple of 8" >&2; exit 2; }
"$(dirname "$0")/setup.sh" >/dev/null
timeout ${TIMEOUT:-300} qemu-system-x86_64 -m 1024 -smp 1 -nographic -no-reboot -kernel "$WORK/vmlinuz" -initrd "$WORK/initramfs.gz" \
  -append "console=ttyS0 quiet panic=-1 role=host port=$PORT ports=$P nqn=$NQN delay=$D digest=$G wait=$W expect=$E io=$IO ioslba=$SLBA ioblocks=$BLOCKS" \
  -netdev user,id=n0 -device virtio-net-pci,netdev=n0 -monitor none -display none </dev/null 2>&1 | tr -d '\r' | sed -e 's/^.*=== /=== /' | sed -n '/^=== BEGIN/,$p'
