#!/bin/bash
# Cross test of the NEON YUYV rows (capture/yuyv_neon.c): builds
# test_yuyv_neon.c with capture/yuyv.c (the reference and the dispatch) for
# aarch64 and runs it under qemu-aarch64. On an aarch64 host: native, no qemu.
#
# usage: run_yuyv.sh SOURCE_DIR [BUILD_DIR]   exit: 0 pass, 1 fail, 77 skip
set -euo pipefail

src=${1:?usage: run_yuyv.sh SOURCE_DIR [BUILD_DIR]}
out=${2:-$(mktemp -d)}
sysroot=/usr/aarch64-linux-gnu
mkdir -p "$out"
sources=(tests/neon/test_yuyv_neon.c capture/yuyv.c capture/yuyv_neon.c)
flags=(-std=c17 -O3 -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Werror
       -D_GNU_SOURCE -I"$src")
exe=$out/test_yuyv_neon.aarch64

if [ "$(uname -m)" = aarch64 ]; then
	(cd "$src" && "${CC:-cc}" "${flags[@]}" "${sources[@]}" -o "$exe" -pthread)
	exec "$exe"
fi
missing=()
command -v aarch64-linux-gnu-gcc >/dev/null || missing+=(gcc-aarch64-linux-gnu)
[ -f "$sysroot/include/stdio.h" ] || missing+=(libc6-dev-arm64-cross)
command -v qemu-aarch64 >/dev/null || missing+=(qemu-user)
if [ ${#missing[@]} -gt 0 ]; then
	echo "SKIP: the aarch64 cross test needs: ${missing[*]} (scripts/install-deps.sh)"
	exit 77
fi
(cd "$src" && aarch64-linux-gnu-gcc "${flags[@]}" "${sources[@]}" -o "$exe" -pthread)
qemu-aarch64 -L "$sysroot" "$exe"
