#!/usr/bin/env bash
# The 68-point landmark model and head pose as a user sees them:
# - on dlib's example faces (landmarks68.txt holds dlib's shape-predictor
#   output, not human annotation: an agreement measure), the mean point error
#   over inter-ocular distance stays where it was measured (README: median
#   0.077, mean 0.105 over 18 faces of 15-48 px between the eyes), with
#   margin: median <= 0.10, mean <= 0.14. Two pixels of disagreement on a
#   20 px inter-ocular face is already 0.10, so a broken crop, a swapped x/y
#   or a wrong normalisation (errors of 0.3 and more) cannot pass;
# - on frames of the replay clip, a mirrored frame gives the mirrored yaw:
#   the sign flips and the magnitude stays within 10 degrees (the net is not
#   exactly symmetric, and the detector's box moves a little), for faces
#   within 45 degrees of the camera whose fit is good on both sides (rms
#   reprojection error <= 4 px: a failed landmark fit shows there), for all
#   but at most one of them: the yaw of one face moves by several degrees
#   with a pixel of detector box (frame 0120: 6, 14, 16 and 10 degrees with
#   the short, full, former auto and auto boxes), and on every 10th frame
#   of the clip 2 of 21 faces (auto before its full-range pass) and 3 of 20
#   (with it) miss 10 degrees, median 3.4 / 3.9; a broken mirror or sign
#   misses on all;
# - a photo rotated by +-15 degrees gives roll changed by +-15 within 4.
set -u
: "${FACECTL:?path to facectl}" "${FW_SHARED_DIR:?shared folder}" "${FW_MODELS_DIR:?models}"

D=$FW_SHARED_DIR/data
fails=0
fail() {
	echo "FAIL: $*" >&2
	fails=$((fails + 1))
}
export OPENBLAS_NUM_THREADS=1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# --- accuracy against dlib's predictions
out=$("$FACECTL" eval landmarks "$D/detection/dlib_pascal_faces/landmarks68.txt" \
	--models "$FW_MODELS_DIR" 2>&1) || fail "eval landmarks failed: $out"
summary=$(printf '%s\n' "$out" | tail -1)
echo "$summary"
echo "$summary" | awk '{ exit !($2 == 18 && $4 == 18 && $8 <= 0.10 && $6 <= 0.14) }' ||
	fail "landmark error too large or faces missed: $summary"

# --- mirrored frames: mirrored yaw
frames=()
for f in 0120 0150 0180 0210 0240 0270 0299; do
	frames+=("$D/video/hamilton_frames/frame_$f.jpg")
done
"$FACECTL" eval pose "${frames[@]}" --models "$FW_MODELS_DIR" >"$tmp/orig" 2>&1 ||
	fail "eval pose failed: $(cat "$tmp/orig")"
"$FACECTL" eval pose "${frames[@]}" --mirror --models "$FW_MODELS_DIR" >"$tmp/mirr" 2>&1 ||
	fail "eval pose --mirror failed: $(cat "$tmp/mirr")"
# fields: FILE face K: cx X cy Y width W yaw Y pitch P roll R rms E ($5 = X, $11 = yaw)
awk -v kind=mirror '
	FNR == 1 { pass++ }
	$2 == "size" { w[$1] = $3; next }
	$2 != "face" || $4 != "cx" { next }
	pass == 1 { n++; f[n] = $1; cx[n] = $5; cy[n] = $7; wd[n] = $9; yaw[n] = $11; rms[n] = $17; next }
	{ m++; mf[m] = $1; mcx[m] = $5; mcy[m] = $7; myaw[m] = $11; mrms[m] = $17 }
	END {
		bad = 0; checked = 0
		for (i = 1; i <= n; i++) {
			if (rms[i] > 4 || yaw[i] > 45 || yaw[i] < -45) continue
			best = -1
			for (j = 1; j <= m; j++) {
				if (mf[j] != f[i]) continue
				dx = mcx[j] - (w[f[i]] - 1 - cx[i]); dy = mcy[j] - cy[i]
				if (dx * dx + dy * dy < (0.25 * wd[i]) ^ 2) best = j
			}
			if (best < 0 || mrms[best] > 4) continue
			checked++
			s = yaw[i] + myaw[best]
			if (s > 10 || s < -10 || (yaw[i] > 8 && myaw[best] >= 0) || (yaw[i] < -8 && myaw[best] <= 0)) {
				printf "mirror: %s face at %s,%s yaw %s, mirrored %s\n", f[i], cx[i], cy[i], yaw[i], myaw[best] > "/dev/stderr"
				bad++
			}
		}
		printf "mirror: %d faces compared, %d bad\n", checked, bad
		exit bad > 1 || checked < 5
	}' "$tmp/orig" "$tmp/mirr" || fail "mirrored faces do not give mirrored yaw"

# --- rotated photo: roll follows
photo=$D/detection/dlib_pascal_faces/images/2008_001322.jpg
"$FACECTL" eval pose "$photo" --models "$FW_MODELS_DIR" >"$tmp/r0" 2>&1 || fail "eval pose failed"
for deg in 15 -15; do
	"$FACECTL" eval pose "$photo" --rotate "$deg" --models "$FW_MODELS_DIR" >"$tmp/r" 2>&1 ||
		fail "eval pose --rotate $deg failed"
	awk -v deg="$deg" '
		FNR == 1 { pass++ }
		$2 == "size" { W = $3; H = $4; next }
		$2 != "face" || $4 != "cx" { next }
		pass == 1 { n++; cx[n] = $5; cy[n] = $7; wd[n] = $9; roll[n] = $15; next }
		{ m++; rcx[m] = $5; rcy[m] = $7; rroll[m] = $15 }
		END {
			t = deg * 3.14159265 / 180; c = cos(t); s = sin(t)
			ox = (W - 1) / 2; oy = (H - 1) / 2; bad = 0; checked = 0
			for (i = 1; i <= n; i++) {
				x = ox + c * (cx[i] - ox) - s * (cy[i] - oy)
				y = oy + s * (cx[i] - ox) + c * (cy[i] - oy)
				for (j = 1; j <= m; j++)
					if ((rcx[j] - x) ^ 2 + (rcy[j] - y) ^ 2 < (0.25 * wd[i]) ^ 2) {
						checked++
						d = rroll[j] - roll[i] - deg
						if (d > 4 || d < -4) {
							printf "rotate %s: face at %s,%s roll %s -> %s\n", deg, cx[i], cy[i], roll[i], rroll[j] > "/dev/stderr"
							bad++
						}
					}
			}
			printf "rotate %s: %d faces compared, %d bad\n", deg, checked, bad
			exit bad > 0 || checked < 3
		}' "$tmp/r0" "$tmp/r" || fail "rotating the photo by $deg degrees does not rotate roll by as much"
done

if [ "$fails" -ne 0 ]; then
	echo "test_landmarks68: $fails failure(s)" >&2
	exit 1
fi
echo "test_landmarks68: ok"
