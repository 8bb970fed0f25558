#!/usr/bin/env bash
# The real-kernel capture test: boots Debian's own kernel under qemu (TCG)
# with the vivid and v4l2loopback drivers and runs facewatch's capture
# against them (init.sh inside the guest, results on the serial console,
# checked here). See PLATFORM.md 1e for why a VM: this host's kernel has no
# modules and no media support.
#
#   run.sh   (env: FACECTL, CAPTURE_PROBE, MJPEG_FEED, FW_SHARED_DIR, FW_BUILD_DIR)
#
# The kernel is the one matching the installed linux-headers-amd64, so the
# v4l2loopback module built from v4l2loopback-source loads. Its .deb is
# downloaded once (apt-get download, ~70 MB) and kept in
# $FW_BUILD_DIR/qemu-kernel/ with the extracted modules and the built
# v4l2loopback.ko; only the initramfs is rebuilt each run (it holds the
# freshly built binaries). Exit 77 (skip) only when the kernel package
# cannot be fetched; missing tools are a failure (scripts/install-deps.sh
# installs them).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
: "${FW_BUILD_DIR:?}" "${FW_SHARED_DIR:?}" "${FACECTL:?}" "${CAPTURE_PROBE:?}" "${MJPEG_FEED:?}"
clip=$FW_SHARED_DIR/data/video/short_hamilton_clip.mjpeg

die() { echo "test_qemu_kernel: $*" >&2; exit 1; }
skip() { echo "test_qemu_kernel: SKIP: $*" >&2; exit 77; }

for tool in qemu-system-x86_64 cpio depmod modprobe dpkg-deb apt-get make strip python3; do
	command -v "$tool" >/dev/null ||
		die "$tool not found: run scripts/install-deps.sh (qemu-system-x86 cpio kmod ...)"
done
[ -x /bin/busybox ] || die "/bin/busybox not found: run scripts/install-deps.sh (busybox-static)"
[ -f /usr/src/v4l2loopback.tar.bz2 ] || die "v4l2loopback-source is not installed"
[ -f "$clip" ] || die "the shared clip $clip is missing"

# The kernel release that linux-headers-amd64 points at, e.g. 6.1.0-56-amd64.
dep=$(dpkg-query -W -f='${Depends}' linux-headers-amd64 2>/dev/null) ||
	die "linux-headers-amd64 is not installed"
kver=$(sed -n 's/^linux-headers-\([^ ,]*\).*/\1/p' <<<"$dep")
[ -n "$kver" ] || die "cannot read the kernel release from linux-headers-amd64 ($dep)"
hdrs=/usr/src/linux-headers-$kver
[ -d "$hdrs" ] || die "$hdrs is missing (linux-headers-$kver)"

cache=$FW_BUILD_DIR/qemu-kernel/$kver
mkdir -p "$cache"
t0=$(date +%s.%N)

# 1. the kernel package, downloaded once
deb=$(ls "$cache"/linux-image-"$kver"*_amd64.deb 2>/dev/null | head -n1 || true)
if [ -z "$deb" ]; then
	tmp=$(mktemp -d "$cache/dl.XXXXXX")
	for pkg in "linux-image-$kver" "linux-image-$kver-unsigned"; do
		(cd "$tmp" && apt-get download -q "$pkg" >"$tmp/log" 2>&1) && break || true
	done
	deb=$(ls "$tmp"/linux-image-"$kver"*_amd64.deb 2>/dev/null | head -n1 || true)
	if [ -z "$deb" ]; then
		cat "$tmp/log" >&2 || true
		rm -rf "$tmp"
		skip "cannot fetch linux-image-$kver (apt-get download failed; no network or no package lists?)"
	fi
	mv "$deb" "$cache/"
	rm -rf "$tmp"
	deb=$cache/$(basename "$deb")
fi

# 2. its modules, extracted, plus v4l2loopback built against the headers
kroot=$cache/root
if [ ! -f "$kroot/.done" ]; then
	rm -rf "$kroot" "$cache/v4l2loopback"
	dpkg-deb -x "$deb" "$kroot"
	mkdir -p "$cache/v4l2loopback"
	tar -xjf /usr/src/v4l2loopback.tar.bz2 -C "$cache/v4l2loopback"
	src=$(dirname "$(find "$cache/v4l2loopback" -name v4l2loopback.c | head -n1)")
	make -s -C "$hdrs" M="$src" modules >"$cache/v4l2loopback.log" 2>&1 ||
		{ cat "$cache/v4l2loopback.log" >&2; die "building v4l2loopback.ko against $hdrs failed"; }
	mkdir -p "$kroot/lib/modules/$kver/updates"
	cp "$src/v4l2loopback.ko" "$kroot/lib/modules/$kver/updates/"
	depmod -b "$kroot" "$kver"
	touch "$kroot/.done"
fi
vmlinuz=$kroot/boot/vmlinuz-$kver
[ -f "$vmlinuz" ] || die "no $vmlinuz in $deb"

# 3. the initramfs: busybox, the two drivers and what they need, facewatch's
# programs with their shared libraries, the clip
init=$cache/initroot
rm -rf "$init"
mkdir -p "$init/bin" "$init/fw" "$init/lib/modules/$kver"
cp /bin/busybox "$init/bin/busybox"
ln -s busybox "$init/bin/sh"
for m in vivid v4l2loopback; do
	modprobe -d "$kroot" -S "$kver" --show-depends "$m" | awk '$1 == "insmod" { print $2 }'
done | sort -u | while read -r ko; do
	rel=${ko#"$kroot"/}
	mkdir -p "$init/$(dirname "$rel")"
	cp "$ko" "$init/$rel"
done
cp "$kroot/lib/modules/$kver"/modules.{order,builtin,builtin.modinfo} "$init/lib/modules/$kver/" 2>/dev/null || true
depmod -b "$init" "$kver"
# stripped: the guest needs no debug info, and a smaller initramfs boots faster
for bin in "$FACECTL" "$CAPTURE_PROBE" "$MJPEG_FEED"; do
	strip -o "$init/fw/$(basename "$bin")" "$bin"
done
for bin in "$FACECTL" "$CAPTURE_PROBE" "$MJPEG_FEED"; do
	ldd "$bin" | grep -o '/[^ ]*'
done | sort -u | while read -r lib; do
	mkdir -p "$init$(dirname "$lib")"
	strip --strip-unneeded -o "$init$lib" "$(readlink -f "$lib")"
done
cp "$clip" "$init/fw/clip.mjpeg"
cp "$here/init.sh" "$init/init"
chmod +x "$init/init"
(cd "$init" && find . | cpio -o -H newc --quiet) >"$cache/initrd.cpio"
t1=$(date +%s.%N)

# 4. boot; the guest powers off when done
log=$cache/console.log
timeout 240 qemu-system-x86_64 -accel tcg -m 512 -smp 1 -nographic -no-reboot -nic none \
	-kernel "$vmlinuz" -initrd "$cache/initrd.cpio" \
	-append "console=ttyS0 loglevel=4 panic=-1 rdinit=/init" </dev/null | tr -d '\r' >"$log" || true
t2=$(date +%s.%N)
grep '^FWQ' "$log" | grep -v '^FWQ-CAM' || true
awk -v a="$t0" -v b="$t1" -v c="$t2" -v k="$kver" \
	'BEGIN { printf "test_qemu_kernel: prepare %.1f s, boot+tests %.1f s (kernel %s)\n", b - a, c - b, k }'

# 5. the checks
python3 "$here/check.py" "$log" || { echo "--- console ---"; tail -n 80 "$log"; exit 1; }
