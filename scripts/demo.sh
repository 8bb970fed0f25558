#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine, builds facewatch and runs it:
#  1. facectl detect on the sample photos of the npm package
#     @vladmandic/face-api@1.7.15 (MIT): faces as JSON, and each photo with
#     its boxes and keypoints drawn to facewatch-demo-N.jpg;
#  2. the daemon, printing its events as JSON lines: on the camera when
#     there is one (Ctrl-C stops it), else on a replay of those photos.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh --npm
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target facectl facewatchd

demo=.cache/face-api
if [ ! -f "$demo/package/demo/sample1.jpg" ]; then
  mkdir -p "$demo"
  (cd "$demo" && npm pack --silent @vladmandic/face-api@1.7.15 >/dev/null && tar xzf vladmandic-face-api-1.7.15.tgz)
fi
photos=.cache/demo-photos
mkdir -p "$photos"
ln -sf "$PWD/$demo"/package/demo/sample*.jpg "$photos/"

echo "== facectl detect on the sample photos" >&2
./build/daemon/facectl detect --detector auto --draw facewatch-demo.jpg "$photos"/sample*.jpg
echo "drawn: $(ls facewatch-demo-*.jpg | tr '\n' ' ')" >&2

run=.cache/run
mkdir -p "$run"
if ls /dev/video* >/dev/null 2>&1; then
  echo "== facewatchd on the camera (events below; Ctrl-C stops it)" >&2
  exec ./build/daemon/facewatchd --socket "$run/facewatch.sock" --gallery "$run/gallery.db" --print-events
fi
echo "== no camera: facewatchd on a replay of the photos, each held 2 s at 10 fps" >&2
# a recording is a file of concatenated JPEGs (MJPEG): each photo 20 times
for f in "$photos"/sample*.jpg; do for i in $(seq 20); do cat "$f"; done; done >"$run/photos.mjpeg"
printf 'leave_ms = 1500\nanyone_leave_ms = 1500\nface_lost_ms = 1000\nstatus_interval = 0\n' >"$run/demo.conf"
exec ./build/daemon/facewatchd --config "$run/demo.conf" --camera "replay:$run/photos.mjpeg" --fps 10 \
  --socket "$run/facewatch.sock" --gallery "$run/gallery.db" --print-events --exit-when-idle
