#!/usr/bin/env bash
# stop-target.sh — stop the guest started by boot-target.sh.
KERNEL=${KERNEL:-6.1}; if [ "$KERNEL" = 6.1 ]; then WORK=${WORK:-/tmp/complchain-linuxvm}; else WORK=${WORK:-/tmp/complchain-linuxvm-$KERNEL}; fi; export KERNEL WORK
[ -f "$WORK/target.pid" ] && kill "$(cat "$WORK/target.pid")" 2>/dev/null; rm -f "$WORK/target.pid"; true
