#!/usr/bin/env bash
# Installs the Debian 12 packages facewatch builds, runs and tests with.
# Idempotent: skips apt entirely when everything is already installed.
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config git ca-certificates
  libopenblas-dev libturbojpeg0-dev libjpeg62-turbo-dev libpng-dev libjansson-dev
  libcmocka-dev
  clang libclang-rt-14-dev
  nodejs npm python3
)

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
