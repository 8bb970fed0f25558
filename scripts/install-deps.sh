#!/usr/bin/env bash
# Installs the Debian 12 packages facewatch builds, runs and tests with.
# Idempotent: skips apt entirely when everything is already installed.
#   install-deps.sh          build and test dependencies
#   install-deps.sh --npm    also npm (only the demo fetches photos with it)
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config git ca-certificates
  libopenblas-dev libturbojpeg0-dev libjpeg62-turbo-dev libpng-dev libjansson-dev
  libv4l-dev v4l-utils
  libcmocka-dev libsqlite3-dev
  clang libclang-rt-14-dev
  python3
  gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
  libsystemd-dev systemd systemd-container   # systemd units: sd_notify, systemd-analyze, systemd-socket-activate, nspawn test
  qemu-system-x86 busybox-static cpio kmod linux-headers-amd64 v4l2loopback-source   # capture: real-kernel V4L2 test (tests/qemu)
  libmosquitto-dev mosquitto mosquitto-clients socat jq   # automation: MQTT sink, examples
  libsdl2-dev libsdl2-ttf-dev fonts-dejavu-core xvfb xauth x11-apps xdotool imagemagick   # preview
  valgrind   # valgrind_avx2 test (sanitizers and fuzzing, issue 11)
)
# npm may come from another source than Debian (e.g. nodesource's nodejs
# bundles it, and then Debian's npm package conflicts): ask for the command.
if [ "${1:-}" = --npm ] && ! command -v npm >/dev/null; then
  PKGS+=(npm)
fi

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
echo "install-deps: installing ${missing[*]}" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
