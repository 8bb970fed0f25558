#!/bin/bash
# Cross test of the aarch64 int8 kernels (core/kernels/q8_neon.c): builds
# test_q8_neon.c with them and the reference for aarch64, then runs it under
# qemu-user twice:
#   -cpu max         has dot product: tables neon and neondot are both tested;
#   -cpu cortex-a53  has none: neondot must be skipped (it would SIGILL on sdot).
# Built at the default -march, as the real build is: only the functions with
# target("arch=armv8.2-a+dotprod") may use sdot.
#
# usage: run.sh SOURCE_DIR [BUILD_DIR]      (CTest: tests/neon/CMakeLists.txt)
# env:   FW_NEON_CASES  cases per kind (default 300)   FW_NEON_SEED  (default 0x5eed)
#        FW_NEON_CFLAGS appended to the compile line (e.g. "-O3" as core/CMakeLists.txt)
# exit:  0 pass, 1 fail, 77 skip (no cross toolchain or qemu)
# On an aarch64 host it builds with the native cc and runs once, without qemu.
set -euo pipefail

src=${1:?usage: run.sh SOURCE_DIR [BUILD_DIR]}
out=${2:-$(mktemp -d)}
cases=${FW_NEON_CASES:-300}
seed=${FW_NEON_SEED:-0x5eed}
sysroot=/usr/aarch64-linux-gnu
mkdir -p "$out"

sources=(tests/neon/test_q8_neon.c core/kernels/q8_ref.c core/kernels/q8_ops.c core/kernels/ops.c
	 core/kernels/q8_neon.c core/fw.c)
for f in "${sources[@]}"; do
	if [ ! -f "$src/$f" ]; then
		echo "run.sh: $src/$f is missing" >&2
		exit 1
	fi
done

native=0
if [ "$(uname -m)" = aarch64 ]; then
	native=1
	cc=${CC:-cc}
else
	cc=aarch64-linux-gnu-gcc
	missing=()
	command -v "$cc" >/dev/null || missing+=(gcc-aarch64-linux-gnu)
	[ -f "$sysroot/include/stdio.h" ] && [ -e "$sysroot/lib/ld-linux-aarch64.so.1" ] ||
		missing+=(libc6-dev-arm64-cross)
	command -v qemu-aarch64 >/dev/null || missing+=(qemu-user)
	if [ ${#missing[@]} -gt 0 ]; then
		echo "SKIP: the aarch64 cross test needs: ${missing[*]}"
		echo "      apt-get install -y --no-install-recommends \\"
		echo "          gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user"
		exit 77
	fi
fi

exe=$out/test_q8_neon.aarch64
(cd "$src" && "$cc" -std=c17 -O2 -Wall -Wextra -Werror -D_GNU_SOURCE -ffp-contract=off -I"$src" \
	${FW_NEON_CFLAGS:-} "${sources[@]}" -o "$exe" -lm -pthread)

# run CPU EXPECT: EXPECT is the neondot line the test must print on that CPU
run() {
	local cpu=$1 expect=$2 log=$out/test_q8_neon.$1.log start rc=0
	start=$(date +%s%N)
	if [ "$cpu" = native ]; then
		"$exe" "$cases" "$seed" >"$log" 2>&1 || rc=$?
	else
		qemu-aarch64 -L "$sysroot" -cpu "$cpu" "$exe" "$cases" "$seed" >"$log" 2>&1 || rc=$?
	fi
	echo "== -cpu $cpu: exit $rc, $((($(date +%s%N) - start) / 1000000)) ms"
	cat "$log"
	if [ $rc -ne 0 ]; then
		return 1
	fi
	if ! grep -q "^table neondot: $expect" "$log"; then
		echo "run.sh: on -cpu $cpu the neondot table should be '$expect'" >&2
		return 1
	fi
	if ! tail -n 1 "$log" | grep -Eq '^[0-9]+ passed, 0 failed$'; then
		echo "run.sh: no clean 'N passed, 0 failed' line on -cpu $cpu" >&2
		return 1
	fi
}

status=0
if [ $native = 1 ]; then
	run native '' || status=1
else
	run max tested || status=1
	run cortex-a53 skipped || status=1
fi
exit $status
