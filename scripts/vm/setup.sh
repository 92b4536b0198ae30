#!/usr/bin/env bash
# Prepare everything a real-guest test needs (see scripts/vm/run-guest.sh):
#
#   1. apt: qemu-system-x86 and busybox-static from bookworm-backports (the
#      backports suite is added under /etc/apt/sources.list.d/ if no source
#      names it; bookworm's own qemu-system-x86 conflicts with the image's
#      backports qemu-utils, which holds qemu-storage-daemon);
#   2. the Debian cloud kernel (ABI name resolved with apt-cache from
#      linux-image-cloud-amd64), fetched with `apt-get download`, never
#      installed: vmlinuz and the virtio modules (uncompressed .ko) are
#      copied into the cache;
#   3. a busybox initramfs with tests/vm/init.sh as /init.
#
# Cache: target/vm/ (override with PR_VM_CACHE). Idempotent: each step is
# skipped when its result is cached; the initramfs is rebuilt only when
# init.sh, busybox or the modules change. Needs root (or sudo) for step 1.
# Prints the cache directory on stdout at the end.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cache=${PR_VM_CACHE:-$root/target/vm}
init_src=$root/tests/vm/init.sh

# Load order matters: each module needs the ones before it.
MODULES="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk"

log() { printf 'vm-setup: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

# as_root, apt_update, apt_install, apt_add_backports.
source "$root/scripts/lib/apt.sh"

# --- 1. packages -----------------------------------------------------------
need_pkgs=()
command -v qemu-system-x86_64 >/dev/null 2>&1 || need_pkgs+=(qemu-system-x86)
[ -x /bin/busybox ] || need_pkgs+=(busybox-static)
if [ "${#need_pkgs[@]}" -gt 0 ]; then
    apt_add_backports || die "cannot add the bookworm-backports apt suite; install ${need_pkgs[*]} by hand"
    log "installing ${need_pkgs[*]} (bookworm-backports)"
    apt_install -t bookworm-backports "${need_pkgs[@]}" || die "apt-get install ${need_pkgs[*]} failed"
fi
command -v qemu-system-x86_64 >/dev/null 2>&1 || die "qemu-system-x86_64 missing after install"
busybox=$(command -v busybox || true)
[ -x /bin/busybox ] && busybox=/bin/busybox
[ -n "$busybox" ] || die "busybox missing after install"
# A dynamic busybox would need its libraries in the initramfs.
if ldd "$busybox" >/dev/null 2>&1; then
    die "$busybox is dynamically linked; install busybox-static"
fi

mkdir -p "$cache"

# --- 2. kernel and modules ---------------------------------------------------
have_kernel() {
    [ -s "$cache/vmlinuz" ] || return 1
    local m
    for m in $MODULES; do [ -s "$cache/modules/$m.ko" ] || return 1; done
}

if ! have_kernel; then
    abi_pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
        awk '/Depends: linux-image-/{print $2; exit}')
    if [ -z "$abi_pkg" ]; then
        apt_update || die "apt-get update failed"
        abi_pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
            awk '/Depends: linux-image-/{print $2; exit}')
    fi
    [ -n "$abi_pkg" ] || die "cannot resolve the cloud kernel package (apt-cache depends linux-image-cloud-amd64)"
    log "fetching $abi_pkg (apt-get download, not installed)"
    scratch=$(mktemp -d "$cache/kernel.XXXXXX")
    trap 'rm -rf "$scratch"' EXIT
    (cd "$scratch" && apt-get download -qq "$abi_pkg" >/dev/null 2>&1) || {
        apt_update || die "apt-get update failed"
        # apt-get download writes as the _apt user when it can; the scratch
        # dir must be readable for that.
        chmod 755 "$scratch"
        (cd "$scratch" && apt-get download -qq "$abi_pkg") || die "apt-get download $abi_pkg failed"
    }
    deb=$(ls "$scratch"/*.deb)
    dpkg-deb -x "$deb" "$scratch/x"
    vmlinuz=$(ls "$scratch"/x/boot/vmlinuz-* | head -n1)
    [ -f "$vmlinuz" ] || die "no /boot/vmlinuz-* in $deb"
    kver=${vmlinuz##*/vmlinuz-}
    moddir=$scratch/x/lib/modules/$kver
    [ -d "$moddir" ] || moddir=$scratch/x/usr/lib/modules/$kver
    [ -d "$moddir" ] || die "no module tree for $kver in $deb"
    rm -rf "$cache/modules.new"
    mkdir -p "$cache/modules.new"
    for m in $MODULES; do
        f=$(find "$moddir/kernel" -name "$m.ko" -o -name "$m.ko.xz" -o -name "$m.ko.zst" -o -name "$m.ko.gz" | head -n1)
        if [ -z "$f" ]; then
            # Built into this kernel: nothing to load (init.sh skips missing files).
            grep -qs "/$m.ko" "$moddir/modules.builtin" && { log "$m is built in"; continue; }
            die "module $m not found under $moddir"
        fi
        case "$f" in
            *.ko.xz)  xz -dc "$f" >"$cache/modules.new/$m.ko" ;;
            *.ko.zst) zstd -qdc "$f" >"$cache/modules.new/$m.ko" ;;
            *.ko.gz)  gzip -dc "$f" >"$cache/modules.new/$m.ko" ;;
            *)        cp "$f" "$cache/modules.new/$m.ko" ;;
        esac
    done
    cp "$vmlinuz" "$cache/vmlinuz.new"
    echo "$kver" >"$cache/kernel-version"
    rm -rf "$cache/modules"
    mv "$cache/modules.new" "$cache/modules"
    mv "$cache/vmlinuz.new" "$cache/vmlinuz"
    rm -rf "$scratch"
    trap - EXIT
    log "kernel $kver cached"
fi

# --- 3. initramfs ----------------------------------------------------------
[ -f "$init_src" ] || die "$init_src missing"
stamp=$( { sha256sum "$init_src" "$busybox"; cat "$cache/kernel-version" 2>/dev/null;
           ls -l "$cache/modules"; } | sha256sum | cut -c1-32)
if [ ! -s "$cache/initrd.gz" ] || [ "$(cat "$cache/initrd.stamp" 2>/dev/null)" != "$stamp" ]; then
    log "building initramfs"
    rootfs=$(mktemp -d "$cache/rootfs.XXXXXX")
    trap 'rm -rf "$rootfs"' EXIT
    mkdir -p "$rootfs"/{bin,sbin,dev,proc,sys,tmp,modules}
    cp "$busybox" "$rootfs/bin/busybox"
    for applet in $("$busybox" --list); do
        # A link named busybox would replace the binary itself.
        [ "$applet" = busybox ] && continue
        ln -sf busybox "$rootfs/bin/$applet"
    done
    cp "$cache"/modules/*.ko "$rootfs/modules/" 2>/dev/null || true
    install -m 0755 "$init_src" "$rootfs/init"
    (cd "$rootfs" && find . | "$busybox" cpio -o -H newc 2>/dev/null) | gzip -1 >"$cache/initrd.gz.new"
    mv "$cache/initrd.gz.new" "$cache/initrd.gz"
    echo "$stamp" >"$cache/initrd.stamp"
    rm -rf "$rootfs"
    trap - EXIT
fi

log "ready: $cache (kernel $(cat "$cache/kernel-version"))"
echo "$cache"
