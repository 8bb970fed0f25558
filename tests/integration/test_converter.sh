#!/usr/bin/env bash
# fwconvert refuses broken input with exit status 1, a message naming the
# file and no output left behind; the committed models are well-formed .fwm
# files (magic, version, header size, file size, CRC, model name).
#
# Re-creating the models byte for byte from their upstream packages needs the
# network; that is `cmake --build build --target models-check`, not this test.
set -u

: "${FWCONVERT:?set FWCONVERT to the fwconvert binary}"
: "${FW_MODELS_DIR:?set FW_MODELS_DIR to the models/ directory}"

fails=0
fail() {
	echo "FAIL: $*" >&2
	fails=$((fails + 1))
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# expect_reject WHAT FILE
expect_reject() {
	local what=$1 in=$2 out="$tmp/out.fwm" status

	rm -f "$out" "$out.tmp"
	"$FWCONVERT" --name test "$in" "$out" 2>"$tmp/stderr"
	status=$?
	[ "$status" -eq 1 ] || fail "$what: exit status $status, expected 1"
	grep -qF -- "$in" "$tmp/stderr" || fail "$what: message does not name $in: $(cat "$tmp/stderr")"
	if [ -e "$out" ] || [ -e "$out.tmp" ]; then
		fail "$what: an output file was left behind"
	fi
}

: >"$tmp/empty.tflite"
expect_reject "empty file" "$tmp/empty.tflite"

yes 'this is not a TFLite model' | head -c 4096 >"$tmp/garbage.tflite"
expect_reject "garbage" "$tmp/garbage.tflite"

# the TFLite file identifier, then a root table offset far past the end
printf '\x00\x10\x00\x00TFL3\x00\x00\x00\x00' >"$tmp/truncated.tflite"
expect_reject "truncated flatbuffer" "$tmp/truncated.tflite"

expect_reject "missing file" "$tmp/does-not-exist.tflite"

# TensorFlow.js manifests (face-api's landmark net)
echo '[{"paths": ["w.bin"], "weigh' >"$tmp/broken-weights_manifest.json"
expect_reject "manifest that is not JSON" "$tmp/broken-weights_manifest.json"
echo '[{"paths": ["missing.bin"], "weights": []}]' >"$tmp/noshard-weights_manifest.json"
expect_reject "manifest whose shard is missing" "$tmp/noshard-weights_manifest.json"
grep -q missing.bin "$tmp/stderr" || fail "missing shard: message does not name it: $(cat "$tmp/stderr")"
head -c 16 /dev/zero >"$tmp/w.bin"
echo '[{"paths": ["w.bin"], "weights": [{"name": "dense0/conv0/filters", "shape": [4, 4],
  "dtype": "float32"}]}]' >"$tmp/short-weights_manifest.json"
expect_reject "shard shorter than the manifest says" "$tmp/short-weights_manifest.json"
echo '[{"paths": ["w.bin"], "weights": [{"name": "dense0/conv0/filters", "shape": [2, 2],
  "dtype": "float32"}]}]' >"$tmp/other-weights_manifest.json"
head -c 16 /dev/zero >"$tmp/w.bin"
expect_reject "another architecture" "$tmp/other-weights_manifest.json"
grep -q 'dense0/conv0/filters' "$tmp/stderr" ||
	fail "another architecture: message does not name the weight: $(cat "$tmp/stderr")"

"$FWCONVERT" >/dev/null 2>&1
status=$?
[ "$status" -eq 2 ] || fail "no arguments: exit status $status, expected 2 (usage)"

# u32 FILE OFFSET: little-endian field of the header (od reads host order;
# every field compared below is read the same way)
u32() {
	od -An -tu4 -j "$2" -N 4 "$1" | tr -d ' '
}

for name in blazeface_short blazeface_full mobilefacenet onet landmarks68; do
	f="$FW_MODELS_DIR/$name.fwm"
	if [ ! -f "$f" ]; then
		fail "$f is missing"
		continue
	fi
	expect_reject "$name.fwm given as input" "$f"
	[ "$(head -c 8 "$f" | od -An -tx1 | tr -d ' \n')" = 46574d4f44454c1a ] ||
		fail "$f: magic is not FWMODEL\\x1a"
	[ "$(u32 "$f" 8)" = 1 ] || fail "$f: version $(u32 "$f" 8), expected 1"
	[ "$(u32 "$f" 12)" = 160 ] || fail "$f: header size $(u32 "$f" 12), expected 160"
	size=$(wc -c <"$f" | tr -d ' ')
	[ "$(u32 "$f" 16)" = "$size" ] || fail "$f: header says $(u32 "$f" 16) bytes, file has $size"
	# gzip's trailer holds the CRC-32 (the same CRC as fw_crc32) of its input
	crc=$(tail -c +161 "$f" | gzip -c | tail -c 8 | head -c 4 | od -An -tu4 | tr -d ' ')
	[ "$(u32 "$f" 20)" = "$crc" ] || fail "$f: CRC $(u32 "$f" 20), computed $crc"
	[ "$(dd if="$f" bs=1 skip=24 count=32 2>/dev/null | tr -d '\0')" = "$name" ] ||
		fail "$f: model name is not $name"
done

if [ "$fails" -ne 0 ]; then
	echo "test_converter: $fails failure(s)" >&2
	exit 1
fi
echo "test_converter: ok"
