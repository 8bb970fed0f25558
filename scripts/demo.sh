#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine, builds facewatch and runs it on the
# sample photos that ship in the npm package @vladmandic/face-api@1.7.15
# (MIT): prints the faces found as JSON and writes each photo with its boxes
# and keypoints drawn to facewatch-demo-N.jpg.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh --npm
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target facectl

demo=.cache/face-api
if [ ! -f "$demo/package/demo/sample1.jpg" ]; then
  mkdir -p "$demo"
  (cd "$demo" && npm pack --silent @vladmandic/face-api@1.7.15 >/dev/null && tar xzf vladmandic-face-api-1.7.15.tgz)
fi
./build/daemon/facectl detect --draw facewatch-demo.jpg "$demo"/package/demo/sample*.jpg
echo "drawn: $(ls facewatch-demo-*.jpg | tr '\n' ' ')" >&2
