#!/usr/bin/env bash
# setup.sh — install real Linux NVMe/TCP peers (kernel nvme-tcp host, nvmet-tcp target, nvme-cli)
# as a qemu guest image: a Debian kernel plus a busybox initramfs. Idempotent; the image is rebuilt when
# init or this script changes. Needs root for apt-get (Debian packages) the first time.
# KERNEL=6.1 (default): Debian 12's kernel, whose host scans namespaces one at a time.
# KERNEL=6.12: Debian 13's kernel (fetched as a .deb, not installed), whose host scans namespaces
#   asynchronously (kernel commit "nvme-core: scan namespaces asynchronously"), and whose
#   names race (docs/linux-naming-race.md).
# Output: $WORK/vmlinuz and $WORK/initramfs.gz (WORK defaults to /tmp/complchain-linuxvm, /tmp/complchain-linuxvm-6.12).
set -euo pipefail
KERNEL=${KERNEL:-6.1}
case $KERNEL in
  6.1) WORK=${WORK:-/tmp/complchain-linuxvm} ;;
  6.12) WORK=${WORK:-/tmp/complchain-linuxvm-6.12} ;;
  *) echo "KERNEL must be 6.1 or 6.12" >&2; exit 2 ;;
esac
mkdir -p "$WORK"
here=$(cd "$(dirname "$0")" && pwd)
need() { for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || return 1; done; }
pkgs="qemu-system-x86 linux-image-amd64 busybox-static nvme-cli kmod iproute2 cpio xz-utils"
if ! need $pkgs; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
fi
if [ "$KERNEL" = 6.1 ]; then
  MODBASE=/; K=$(ls /lib/modules | sort -V | tail -1); VMLINUZ=/boot/vmlinuz-$K
else
  # Debian 13's kernel package, downloaded with apt from a private package list (nothing installed).
  MODBASE=$WORK/k/usr
  if [ ! -d "$MODBASE/lib/modules" ]; then
    A=$WORK/apt; mkdir -p "$A/lists/partial" "$A/cache/archives/partial"
    # the same Debian mirror this machine's apt already uses, suite trixie
    uri=$(awk '/^URIs:/ && $2 ~ /\/debian\/?$/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null)
    [ -n "$uri" ] || uri=$(awk '$1=="deb" && $0 !~ /security/ {for(i=2;i<=NF;i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' /etc/apt/sources.list 2>/dev/null)
    [ -n "$uri" ] || { echo "no Debian mirror found in this machine's apt sources" >&2; exit 1; }
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri trixie main" > "$A/sources.list"
    O="-o Dir::Etc::SourceList=$A/sources.list -o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists=$A/lists -o Dir::Cache=$A/cache -o Debug::NoLocking=1"
    apt-get $O update -qq
    pkg=$(apt-cache $O depends linux-image-amd64 | awk '/Depends: linux-image-6/{print $2; exit}')
    (cd "$A" && apt-get $O download "$pkg" >/dev/null 2>&1)
    rm -rf "$WORK/k"; dpkg-deb -x "$A"/linux-image-*.deb "$WORK/k"
  fi
  K=$(ls "$MODBASE/lib/modules" | sort -V | tail -1)
  [ -f "$MODBASE/lib/modules/$K/modules.dep" ] || depmod -b "$MODBASE" "$K"
  VMLINUZ=$WORK/k/boot/vmlinuz-$K
fi
[ -s "$WORK/initramfs.gz" ] && [ "$(cat "$WORK/kver" 2>/dev/null)" = "$K" ] && [ "$WORK/initramfs.gz" -nt "$here/init" ] && [ "$WORK/initramfs.gz" -nt "$here/setup.sh" ] && exit 0
rm -rf "$WORK/root"; mkdir -p "$WORK/root"; R=$WORK/root
mkdir -p $R/{bin,sbin,etc,proc,sys,dev,tmp,lib,lib64,usr/sbin,etc/nvme,mods}
cp /bin/busybox $R/bin/busybox
for a in sh mount mkdir ln echo cat sleep ls grep sed ip ifconfig poweroff insmod seq hexdump dd head tail wc date dmesg tr cut timeout uname stty rm rmdir printf readlink sha256sum; do ln -sf busybox $R/bin/$a; done
# nvme-cli and tc with their libraries
for b in /usr/sbin/nvme /usr/sbin/tc; do
  cp "$b" $R/usr/sbin/
  for l in $(ldd "$b" | awk '/=> \//{print $3} /^\t\/lib64/{print $1}'); do cp -L "$l" $R/lib/ 2>/dev/null || true; done
done
cp -L /lib64/ld-linux-x86-64.so.2 $R/lib64/
# kernel modules in dependency order (decompressed: busybox insmod loads plain .ko files).
: > $R/mods/order
for m in virtio_pci virtio_net crc32c_generic nvme_tcp nvmet_tcp null_blk sch_netem; do
  modprobe -d "$MODBASE" -S "$K" --show-depends $m | awk '$1=="insmod"{print $2}' | while read -r f; do
    b=$(basename "$f"); b=${b%.xz}; b=${b%.zst}
    [ -f $R/mods/$b ] && continue
    case $f in *.xz) xz -dc "$f" > $R/mods/$b ;; *.zst) zstd -qdc "$f" > $R/mods/$b ;; *) cp "$f" $R/mods/$b ;; esac
    echo $b >> $R/mods/order
  done
done
cp "$here/init" $R/init; chmod +x $R/init
(cd $R && find . | cpio -o -H newc --quiet | gzip -1) > "$WORK/initramfs.gz"
cp "$VMLINUZ" "$WORK/vmlinuz"; echo "$K" > "$WORK/kver"
echo "guest image ready in $WORK (kernel $K)"
