#!/usr/bin/env bash
# facectl eval as a user runs it, on small inputs (the full evaluations are
# benchmarks: bench/eval_detect.sh): detection AP on dlib's 4 PASCAL images
# with the CSV and the plot, scoring a detection file, verification and
# identification on a handful of photos, and clear errors naming file and
# line for malformed annotations.
set -euo pipefail
: "${FACECTL:?path to facectl}" "${FW_SHARED_DIR:?shared folder}"
export FACEWATCH_MODELS=${FW_MODELS_DIR:?}
P=$FW_SHARED_DIR/data/detection/dlib_pascal_faces
R=$FW_SHARED_DIR/data/recognition
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok - $*"; }
bad() { fail=$((fail + 1)); echo "FAIL - $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }

# 1. detect: JSON report, CSV curve, PNG plot; the full-range model finds
#    most of these 18 frontal faces.
"$FACECTL" eval detect "$P/gt.txt" --detector full --json --csv "$T/pr.csv" --plot "$T/pr.png" \
  --save-detections "$T/det.txt" >"$T/det.json"
check "detect: AP and recall in the JSON report" python3 - "$T/det.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
a = j["settings"]["all"]
assert j["images"] == 4 and j["boxes"] == 18 and a["faces"] == 18, j
assert 0.5 < a["ap"] <= 1 and 0 < a["recall_at_op"] <= 1, a
assert j["runs_640x480"] == 1 and j["mmacs_640x480"] > 50, j
PY
check "detect: the CSV has the curve" bash -c "head -1 '$T/pr.csv' | grep -qx 'setting,threshold,precision,recall' && test \$(wc -l <'$T/pr.csv') -gt 5"
check "detect: the plot is a PNG" bash -c "head -c 8 '$T/pr.png' | od -An -tx1 | grep -q '89 50 4e 47 0d 0a 1a 0a'"

# 2. the saved detections score the same through --detections
"$FACECTL" eval detect "$P/gt.txt" --detections "$T/det.txt" --op-threshold 0.6 --json >"$T/pre.json"
check "detect --detections: the same AP as the run that wrote them" python3 - "$T/det.json" "$T/pre.json" <<'PY'
import json, sys
a, b = (json.load(open(p))["settings"]["all"] for p in sys.argv[1:3])
assert abs(a["ap"] - b["ap"]) < 2e-3 and abs(a["recall_at_op"] - b["recall_at_op"]) < 1e-9, (a, b)
PY

# 3. auto: the tiles and the full-range pass cost 8 runs on a 640x480 frame
#    (7 short-range at 31 M MACs and one full-range at 106 M), 7 with
#    --no-wide; --min-face leaves faces out
"$FACECTL" eval detect "$P/gt.txt" --detector auto --min-face 50 --json >"$T/auto.json"
"$FACECTL" eval detect "$P/gt.txt" --detector auto --min-face 50 --no-wide --json >"$T/auto_nw.json"
check "detect auto: 8 runs per 640x480 frame (7 --no-wide), only faces >= 50 px counted" python3 - "$T/auto.json" "$T/auto_nw.json" <<'PY'
import json, sys
j, n = (json.load(open(p)) for p in sys.argv[1:3])
assert j["runs_640x480"] == 8 and j["settings"]["all"]["faces"] == 6, j
assert n["runs_640x480"] == 7 and 200 < n["mmacs_640x480"] < j["mmacs_640x480"] - 80, (j, n)
PY

# 3a. the O-Net face check (on by default): on the first 50 WIDER images,
#     desk range, the auto detector ranks and boxes faces better (AP
#     0.79 -> 0.88 when written) and reports about half as many false faces
#     at its operating score (precision 0.39 -> 0.82); --no-check turns it off
W=$FW_SHARED_DIR/data/detection/wider_val_subset
"$FACECTL" eval detect "$W/gt.txt" --attributes "$W/gt_attributes.txt" --detector auto \
  --precision int8 --min-frac 0.07 --limit 50 --json >"$T/chk.json"
"$FACECTL" eval detect "$W/gt.txt" --attributes "$W/gt_attributes.txt" --detector auto \
  --precision int8 --min-frac 0.07 --limit 50 --no-check --json >"$T/nochk.json"
check "detect: the O-Net check lifts AP and precision on WIDER photos" python3 - "$T/chk.json" "$T/nochk.json" <<'PY'
import json, sys
c, n = (json.load(open(p)) for p in sys.argv[1:3])
assert c["check"] is True and n["check"] is False, (c.get("check"), n.get("check"))
a, b = c["settings"]["all"], n["settings"]["all"]
assert a["faces"] == b["faces"] >= 30, (a, b)
assert a["ap"] > b["ap"] + 0.03, (a, b)
assert a["precision_at_op"] > b["precision_at_op"] + 0.2, (a, b)
assert a["recall_at_op"] > b["recall_at_op"] - 0.1, (a, b)
PY

# 3b. int8, as the daemon runs: the full-range model finds the same faces
#     (AP within 0.02 of the float run above) and says it ran int8
"$FACECTL" eval detect "$P/gt.txt" --detector full --precision int8 --json >"$T/int8.json"
check "detect --precision int8: same AP as float, reported as int8" python3 - "$T/det.json" "$T/int8.json" <<'PY'
import json, sys
f, q = (json.load(open(p)) for p in sys.argv[1:3])
assert f["precision"] == "float" and q["precision"] == "int8", (f.get("precision"), q.get("precision"))
assert abs(f["settings"]["all"]["ap"] - q["settings"]["all"]["ap"]) < 0.02, (f["settings"], q["settings"])
PY
rc=0; "$FACECTL" eval detect "$P/gt.txt" --precision int4 2>"$T/prec.err" || rc=$?
check "--precision int4 refused with exit 2 and a message" bash -c "[ $rc -eq 2 ] && grep -q 'int8 or float' '$T/prec.err'"

# 4. malformed annotations: file and line named, exit 1
printf 'images/2008_001009.jpg 2\n145 79 76 76\n125 214 90\n' >"$T/bad.txt"
set +e
"$FACECTL" eval detect "$T/bad.txt" --detections "$T/det.txt" 2>"$T/bad.err"; rc=$?
set -e
check "malformed gt: exit 1" test "$rc" = 1
check "malformed gt: says bad.txt:3 and what is wrong" grep -q "bad.txt:3: expected 4 numbers (x y w h)" "$T/bad.err"
printf 'path_a,path_b,same\na.jpg,b.jpg,yes\n' >"$T/pairs.csv"
set +e
"$FACECTL" eval verify "$T/pairs.csv" 2>"$T/pairs.err"; rc=$?
set -e
check "malformed pairs: exit 1" test "$rc" = 1
check "malformed pairs: says pairs.csv:2 and what is wrong" grep -q "pairs.csv:2: 'same' is 0 or 1, not 'yes'" "$T/pairs.err"
set +e
"$FACECTL" eval detect "$P/gt.txt" --detector medium 2>/dev/null; rc=$?
set -e
check "a wrong option value exits 2" test "$rc" = 2

# 5. verify and identify on a few photos (paths relative to the table's folder)
cp -r "$R/images" "$T/images" 2>/dev/null || ln -s "$R/images" "$T/images"
K=images/face_recognition_knn
cat >"$T/few.csv" <<EOF
path_a,path_b,same
$K/train/kit_harington/john1.jpeg,$K/train/kit_harington/john2.jpeg,1
$K/train/rose_leslie/img1.jpg,$K/train/rose_leslie/img2.jpg,1
$K/train/alex_lacamoire/img1.jpg,$K/test/alex_lacamoire1.jpg,1
$K/train/biden/biden2.jpg,$K/test/obama1.jpg,0
$K/train/rose_leslie/img1.jpg,$K/train/kit_harington/john1.jpeg,0
$K/train/alex_lacamoire/img1.jpg,$K/train/biden/biden2.jpg,0
EOF
"$FACECTL" eval verify "$T/few.csv" --folds 3 --json >"$T/v.json"
check "verify: the few pairs are separated" python3 - "$T/v.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
assert j["genuine"] == 3 and j["impostor"] == 3 and j["failed_pairs"] == 0, j
assert j["auc"] == 1 and j["dprime"] > 2 and j["mean_genuine"] > j["mean_impostor"], j
PY
cat >"$T/ids.csv" <<EOF
path,identity,source,photo_group
$K/train/kit_harington/john1.jpeg,kit,t,a
$K/train/kit_harington/john2.jpeg,kit,t,b
$K/train/rose_leslie/img1.jpg,rose,t,c
$K/train/rose_leslie/img2.jpg,rose,t,d
$K/train/biden/biden2.jpg,biden,t,e
EOF
"$FACECTL" eval identify "$T/ids.csv" --json >"$T/i.json"
check "identify: four queries, one skipped, all right" python3 - "$T/i.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
assert j["queries"] == 4 and j["skipped"] == 1 and j["failed"] == 0, j
assert j["precision_at_1"] == 1 and j["map_at_r"] == 1, j
PY

echo "$pass passed, $fail failed"
test "$fail" = 0
