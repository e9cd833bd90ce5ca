#!/usr/bin/env bash
# ctl-target.sh enable|disable NSID — attach or detach a namespace on the running Linux target
# ctl-target.sh ana PORTID STATE — set the ANA state of port PORTID (1, 2, …): optimized, non-optimized, inaccessible
# (a real namespace-change event: the target raises the AEN and updates the Changed Namespace List log).
set -euo pipefail
KERNEL=${KERNEL:-6.1}; if [ "$KERNEL" = 6.1 ]; then WORK=${WORK:-/tmp/complchain-linuxvm}; else WORK=${WORK:-/tmp/complchain-linuxvm-$KERNEL}; fi; export KERNEL WORK
[ $# -ge 2 ] || { echo "usage: $0 enable|disable NSID | ana PORTID STATE" >&2; exit 2; }
python3 - "$WORK/target.ctl" "$1" "${*:2}" <<'PY'
import re, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(20)
s.sendall(f"{sys.argv[2]} {sys.argv[3]}\n".encode())
buf = b""
# the answer is a whole line starting with "ok ": wait for its end, it may arrive in pieces
while not re.search(rb"ok [^\r\n]*[\r\n]", buf):
    chunk = s.recv(256)
    if not chunk: break
    buf += chunk
m = re.search(rb"ok [^\r\n]*", buf)
print(m.group().decode(errors="replace") if m else "no answer")
PY
