#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine, builds facewatch and runs the whole test
# suite (CTest). Usage: bash scripts/test.sh [extra ctest args]
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
export OPENBLAS_NUM_THREADS=1

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFW_WERROR=ON >/dev/null
cmake --build build -j"$(nproc)"
ctest --test-dir build --output-on-failure -j"$(nproc)" "$@"
