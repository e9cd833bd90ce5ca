#!/usr/bin/env bash
# boot-target.sh [NAMESPACES=100] [DELAY_MS=0] (netem delay on what the target sends) — boot a real Linux nvmet-tcp target in qemu.
# It serves subsystem nqn.2026-01.io.example:interop (null_blk namespaces 1..N; with STRIDE=k the NSIDs are
# 1, 1+k, 1+2k, … so the NSID list has gaps) on 127.0.0.1:${PORT:-14420}; with PORTS=n on n ports
# 127.0.0.1:PORT, PORT+1, … — n paths to the same namespaces (multipath), each port its own ANA group 1.
# NQN=… names the subsystem; a second target needs its own WORK and PORT (e.g. WORK=/tmp/complchain-linuxvm-b PORT=14430).
# Returns once the port accepts; the guest keeps running until stop-target.sh. Console log: $WORK/target.log.
set -euo pipefail
KERNEL=${KERNEL:-6.1}; if [ "$KERNEL" = 6.1 ]; then WORK=${WORK:-/tmp/complchain-linuxvm}; else WORK=${WORK:-/tmp/complchain-linuxvm-$KERNEL}; fi; export KERNEL WORK
PORT=${PORT:-14420}; N=${1:-100}; D=${2:-0}; STRIDE=${STRIDE:-1}; PORTS=${PORTS:-1}; NQN=${NQN:-nqn.2026-01.io.example:interop}
"$(dirname "$0")/setup.sh" >/dev/null
[ -f "$WORK/target.pid" ] && kill -0 "$(cat "$WORK/target.pid")" 2>/dev/null && { echo "target already running (pid $(cat "$WORK/target.pid"))"; exit 0; }
: > "$WORK/target.log"
FWD=""; for i in $(seq 0 $((PORTS - 1))); do FWD="$FWD,hostfwd=tcp:127.0.0.1:$((PORT + i))-:$((4420 + i))"; done
qemu-system-x86_64 -m 1024 -smp 1 -nographic -no-reboot -kernel "$WORK/vmlinuz" -initrd "$WORK/initramfs.gz" \
  -append "console=ttyS0 quiet panic=-1 role=target nns=$N delay=$D stride=$STRIDE ports=$PORTS nqn=$NQN" \
  -netdev user,id=n0,restrict=on$FWD -device virtio-net-pci,netdev=n0 \
  -serial file:"$WORK/target.log" -serial unix:"$WORK/target.ctl",server=on,wait=off -monitor none -display none </dev/null >/dev/null 2>&1 &
echo $! > "$WORK/target.pid"
for i in $(seq 300); do grep -q "TARGET READY" "$WORK/target.log" 2>/dev/null && break; sleep 0.5; done
grep -q "TARGET READY" "$WORK/target.log" || { echo "target did not come up; see $WORK/target.log"; exit 1; }
echo "Linux nvmet-tcp target: 127.0.0.1:$PORT (+$((PORTS - 1)) more ports after it) $NQN, $N namespaces, one-way delay ${D}ms (pid $(cat "$WORK/target.pid"))"
