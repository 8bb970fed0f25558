#!/usr/bin/env bash
# The gallery as a user drives it with facectl, on the development photos of
# ../shared/data/recognition (read in place): enrol people from 1-3 photos
# each, identify held-back photos (never a file of an enrolled photo_group)
# and strangers, and report precision; refusals with what to do; "not NAME"
# changing a decision; a model change reported (by facectl and by the
# daemon); facectl following the daemon's configuration; a running daemon
# naming someone enrolled beside it; export -> import; forget and
# rename; a damaged file; --keep-crops; the file's mode and default place;
# two enrolments at once; doctor.
set -uo pipefail
: "${FACECTL:?path to facectl}" "${FW_SHARED_DIR:?shared folder}"
export FACEWATCH_MODELS=${FW_MODELS_DIR:?}
FACECTL=$(realpath "$FACECTL")
REC=$FW_SHARED_DIR/data/recognition
D=$REC/images
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok - $*"; }
bad() { fail=$((fail + 1)); echo "FAIL - $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
# status WANT WHAT CMD...: the command's exit status is WANT
status() { local want=$1 what=$2; shift 2; "$@"; local got=$?; if [ "$got" -eq "$want" ]; then ok "$what"; else bad "$what (exit $got, expected $want)"; fi; }

G=$T/dev.db
fc() { "$FACECTL" "$@"; }

# 1. Identification on the development photos. The plan: per identity, its
#    photo_groups sorted by path; people with several groups are enrolled
#    from the first min(3, groups - 1) and queried with one file of each
#    other group; people with one group of the face_recognition sources are
#    enrolled as distractors; the facenet_pytorch people (one group each)
#    are never enrolled and come as strangers.
python3 - "$REC/identities.csv" "$T" <<'PY'
import csv, sys, collections, os
rows = list(csv.DictReader(open(sys.argv[1])))
groups = collections.defaultdict(lambda: collections.OrderedDict())
source = {}
for r in sorted(rows, key=lambda r: r["path"]):
    groups[r["identity"]].setdefault(r["photo_group"], []).append(r["path"])
    source[r["identity"]] = r["source"]
enrol, queries = open(sys.argv[2] + "/enrol.txt", "w"), open(sys.argv[2] + "/queries.txt", "w")
for who, g in sorted(groups.items()):
    files = [v[0] for v in g.values()]
    if source[who] == "facenet-pytorch":
        queries.write(f"{files[0]} -\n")           # a stranger
    elif len(files) == 1:
        enrol.write(f"{who} {files[0]}\n")          # a distractor
    else:
        k = min(3, len(files) - 1)
        enrol.write(f"{who} {' '.join(files[:k])}\n")
        for f in files[k:]:
            queries.write(f"{f} {who}\n")
PY
enrol_ok=1
while read -r who files; do
	(cd "$REC" && "$FACECTL" enroll --gallery "$G" "$who" $files >>"$T/enrol.json" 2>>"$T/enrol.err") || enrol_ok=0
done <"$T/enrol.txt"
check "every enrolment photo of the plan was taken" [ "$enrol_ok" -eq 1 ]
(cd "$REC" && "$FACECTL" identify --gallery "$G" $(cut -d' ' -f1 "$T/queries.txt")) >"$T/ident.json" 2>"$T/ident.err"
check "identify answered every query" [ "$(wc -l <"$T/ident.json")" -eq "$(wc -l <"$T/queries.txt")" ]
python3 - "$T/queries.txt" "$T/ident.json" "$T/enrol.txt" <<'PY' | tee "$T/precision.txt"
import json, sys
truth = dict(l.split() for l in open(sys.argv[1]))
res = [json.loads(l) for l in open(sys.argv[2])]
enrolled = [l.split() for l in open(sys.argv[3])]
known = [r for r in res if truth[r["image"]] != "-"]
strangers = [r for r in res if truth[r["image"]] == "-"]
tp = sum(1 for r in known if r["identity"] == truth[r["image"]])
wrong = sum(1 for r in known if r["identity"] not in (None, truth[r["image"]]))
fa = sum(1 for r in strangers if r["identity"] is not None)
accepted = tp + wrong + fa
print(f"enrolled {len(enrolled)} people from {sum(len(e) - 1 for e in enrolled)} photos; "
      f"queries: {len(known)} of enrolled people, {len(strangers)} strangers")
print(f"precision {tp}/{accepted} = {tp / max(accepted, 1):.3f}; recall {tp}/{len(known)} = "
      f"{tp / len(known):.3f}; wrong person {wrong}; strangers accepted {fa}/{len(strangers)}")
print(f"margins: lowest similarity of a correct answer "
      f"{min(r['similarity'] for r in known if r['identity'] == truth[r['image']]):.3f}, "
      f"highest similarity of a stranger {max(r['similarity'] for r in strangers):.3f}, threshold 0.55")
for r in res:
    t = truth[r["image"]]
    if r["identity"] != (None if t == "-" else t):
        print(f"  miss: {r['image']} is {t}, got {r['identity']} (closest {r['closest']} {r['similarity']})")
sys.exit(0 if accepted and tp / accepted >= 0.97 and tp / len(known) >= 0.9 and fa == 0 else 1)
PY
check "precision >= 0.97, recall >= 0.9, no stranger accepted (see above)" [ "${PIPESTATUS[0]}" -eq 0 ]
check "the gallery file is private (0600)" [ "$(stat -c %a "$G")" = 600 ]

# 2. Refusals, per file, with what to do; the good photo of the same call
#    is still enrolled and the exit status is 1.
fc enroll --gallery "$T/r.db" rose "$D/face_recognition_multi/kit_with_rose.jpg" \
	"$FW_SHARED_DIR/data/detection/wider_val_subset/images/0--Parade/0_Parade_Parade_0_275.jpg" \
	"$D/face_recognition_knn/train/rose_leslie/img1.jpg" >"$T/r.json" 2>"$T/r.err"
check "enroll with refused photos exits 1" [ $? -eq 1 ]
check "several faces: refused, saying so, with a hint" python3 -c "
import json; l = [json.loads(x) for x in open('$T/r.json')]
assert l[0]['ok'] is False and l[0]['faces_found'] == 2 and 'several faces' in l[0]['error'] and 'crop' in l[0]['hint'], l[0]
assert l[1]['ok'] is False and l[1]['error'] == 'no face found' and l[1]['hint'], l[1]
assert l[2]['ok'] is True and l[3]['templates_added'] == 1 and l[3]['photos_refused'] == 2, l[2:]"
check "the messages name the refused files" bash -c "grep -q kit_with_rose.jpg '$T/r.err' && grep -q 0_Parade_Parade_0_275.jpg '$T/r.err'"
fc enroll --gallery "$T/r.db" nobody "$D/face_recognition_multi/obama_and_biden.jpg" >/dev/null 2>&1
check "all photos refused: exit 1 and nobody enrolled" bash -c "[ $? -eq 1 ] && ! '$FACECTL' list --gallery '$T/r.db' | grep -q nobody"
status 2 "a bad name is a command-line error" fc enroll --gallery "$T/r.db" "-x" "$D/face_recognition_knn/train/rose_leslie/img1.jpg" 2>/dev/null
status 2 "enroll without photos is a command-line error" fc enroll --gallery "$T/r.db" rose 2>/dev/null
status 1 "identify without a gallery file: exit 1" fc identify --gallery "$T/none.db" "$D/face_recognition_knn/train/rose_leslie/img1.jpg" 2>/dev/null

# 3. "not NAME": with one person and a threshold that takes anyone for
#    them, John Savage is taken for John Salley; after `not`, another photo
#    of Savage is not Salley, and Salley's own photos still are.
J=$D/dlib_johns
N=$T/not.db
fc enroll --gallery "$N" John_Salley "$J/John_Salley/000179_02159509.jpg" "$J/John_Salley/000183_02159543.jpg" >/dev/null 2>&1
fc identify --gallery "$N" --threshold -1 "$J/John_Savage/000274_01099061.jpg" >"$T/n1.json" 2>/dev/null
check "before: Savage is taken for Salley (permissive threshold)" grep -q '"identity":"John_Salley"' "$T/n1.json"
fc not --gallery "$N" John_Salley "$J/John_Savage/000264_01099001.jpg" >"$T/not.json" 2>/dev/null
check "not NAME stores a negative" python3 -c "
import json; l = [json.loads(x) for x in open('$T/not.json')]; assert l[-1]['negatives_added'] == 1, l"
fc identify --gallery "$N" --threshold -1 "$J/John_Savage/000274_01099061.jpg" "$J/John_Salley/000186_02159346.jpg" >"$T/n2.json" 2>/dev/null
check "after: Savage is not Salley (vetoed), Salley still is" python3 -c "
import json; a, b = [json.loads(x) for x in open('$T/n2.json')]
assert a['identity'] is None and a['vetoed']['identity'] == 'John_Salley', a
assert a['vetoed']['negative_similarity'] > a['vetoed']['similarity'] + 0.05, a
assert b['identity'] == 'John_Salley' and 'vetoed' not in b, b"
status 1 "not for someone not enrolled: exit 1" fc not --gallery "$N" Nobody "$J/John_Savage/000264_01099001.jpg" 2>/dev/null
check "list counts the negative" bash -c "'$FACECTL' list --gallery '$N' | grep -q '\"negatives\":1'"

# 4. Export -> import: the same gallery, without images; importing again adds nothing.
fc export --gallery "$G" "$T/dev.json" >/dev/null
fc import --gallery "$T/copy.db" "$T/dev.json" >"$T/imp1.json"
fc export --gallery "$T/copy.db" "$T/copy.json" >/dev/null
check "export -> import -> export gives the same document" python3 -c "
import json; a = json.load(open('$T/dev.json')); b = json.load(open('$T/copy.json'))
del a['exported'], b['exported']; assert a == b
assert a['format'] == 'facewatch-gallery' and a['version'] == 1 and a['embedding_dim'] == 192
t = a['identities'][0]['templates'][0]; assert len(t['embedding']) == 192 and t['model'].startswith('mobilefacenet:')"
check "the export is private (0600)" [ "$(stat -c %a "$T/dev.json")" = 600 ]
fc import --gallery "$T/copy.db" "$T/dev.json" >"$T/imp2.json"
check "importing twice adds nothing" python3 -c "
import json; a = json.load(open('$T/imp1.json')); b = json.load(open('$T/imp2.json'))
assert a['templates_added'] > 0 and b['templates_added'] == 0 and b['already_there'] == a['templates_added'], (a, b)"
echo '{"format":"facewatch-gallery","version":1,"embedding_dim":192,"identities":[{"name":"x","templates":[{"embedding":[1,2],"model":"m","quality":1}]}]}' >"$T/bad.json"
fc import --gallery "$T/copy.db" "$T/bad.json" >/dev/null 2>"$T/bad.err"
check "a bad import is refused naming the file and the member" bash -c "[ $? -eq 1 ] && grep -q 'bad.json' '$T/bad.err' && grep -q 'identities\[0\].templates\[0\].embedding' '$T/bad.err'"

# 5. A model change: templates tagged with another model id are not
#    matched, and the people to re-enrol are named.
python3 -c "
import json; d = json.load(open('$T/dev.json'))
for i in d['identities']:
    if i['name'] == 'kit_harington':
        for t in i['templates']: t['model'] = 'mobilefacenet:00000000'
json.dump(d, open('$T/old.json', 'w'))"
fc import --gallery "$T/old.db" "$T/old.json" >/dev/null
fc list --gallery "$T/old.db" >"$T/old-list.json"
check "list says who needs re-enrolment" python3 -c "
import json; l = {j['name']: j for j in map(json.loads, open('$T/old-list.json'))}
assert l['kit_harington']['needs_reenrolment'] is True and l['kit_harington']['current_model'] == 0
assert l['rose_leslie']['needs_reenrolment'] is False"
fc identify --gallery "$T/old.db" "$D/face_recognition_knn/test/johnsnow_test1.jpg" >"$T/old-id.json" 2>"$T/old-id.err"
check "identify does not match the old model's templates and says who to re-enrol" bash -c "
grep -q '\"identity\":null' '$T/old-id.json' && grep -q 'kit_harington' '$T/old-id.err' && grep -q 'enrolled again' '$T/old-id.err'"

# ... and the daemon on that gallery names him in its log, once, at start
mkdir "$T/snow"; cp "$D/face_recognition_knn/test/johnsnow_test1.jpg" "$T/snow/"
timeout 60 "${FACEWATCHD:?}" --camera "replay:$T/snow" --exit-when-idle --gallery "$T/old.db" \
  --socket "$T/old.sock" >/dev/null 2>"$T/old-daemon.log"
check "the daemon names the identity to enrol again, once" bash -c "
[ \$(grep -c 'kit_harington.*enrolled again' '$T/old-daemon.log') -eq 1 ] ||
  { cat '$T/old-daemon.log'; false; }"

# 5b. The daemon's configuration: facectl takes its threshold and gallery
#     (so it decides as the daemon does), unless given on the command line.
P=$D/face_recognition_knn/train/rose_leslie/img2.jpg
printf 'threshold = 0.99\ngallery = %s\n' "$T/copy.db" >"$T/strict.conf"
fc identify --gallery "$T/copy.db" "$P" >"$T/c0.json" 2>/dev/null
fc identify --config "$T/strict.conf" "$P" >"$T/c1.json" 2>/dev/null
FACEWATCH_CONFIG=$T/strict.conf fc identify "$P" >"$T/c2.json" 2>/dev/null
fc identify --config "$T/strict.conf" --threshold 0.5 "$P" >"$T/c3.json" 2>/dev/null
check "identify follows the daemon's configuration (threshold 0.99: nobody; --threshold wins)" bash -c "
grep -q '\"identity\":\"rose_leslie\"' '$T/c0.json' && grep -q '\"identity\":null' '$T/c1.json' &&
grep -q '\"identity\":null' '$T/c2.json' && grep -q '\"identity\":\"rose_leslie\"' '$T/c3.json' ||
{ cat '$T/c0.json' '$T/c1.json' '$T/c2.json' '$T/c3.json'; false; }"
printf 'threshold = lots\n' >"$T/bad.conf"
status 2 "a bad configuration: exit 2" fc identify --config "$T/bad.conf" "$P" 2>"$T/badconf.err"
check "... naming the file and the line" grep -q "bad.conf:1" "$T/badconf.err"

# 5c. An enrolment beside a running daemon (no SIGHUP, no socket): the daemon
#     sees the gallery change and names the person it could not name before.
CLIP=$FW_SHARED_DIR/data/video/short_hamilton_clip.mjpeg
printf 'refresh_ms = 1000\n' >"$T/live.conf"
"$FACEWATCHD" --config "$T/live.conf" --camera "replay:$CLIP" --loop --fps 30 --gallery "$T/live.db" \
  --socket "$T/live.sock" >/dev/null 2>"$T/live-daemon.log" &
dpid=$!
python3 - "$T/live.sock" "$FACECTL" "$T/live.db" \
  "$REC/images/face_recognition_examples/lin-manuel-miranda.png" >"$T/live.out" 2>&1 <<'PY'
import json, socket, subprocess, sys, time
sock, facectl, db, photo = sys.argv[1:5]
end = time.time() + 30
while True:
    try:
        s = socket.socket(socket.AF_UNIX); s.connect(sock); break
    except OSError:
        if time.time() > end: sys.exit("no daemon socket")
        time.sleep(0.1)
f = s.makefile()
s.sendall(b'{"request":"subscribe","events":["face_identified"]}\n')
s.settimeout(30)
def names(until):
    got = []
    try:
        for line in f:
            e = json.loads(line)
            if e.get("event") == "face_identified":
                got.append(e.get("identity"))
                if e.get("identity"): break
            if time.time() > until: break
    except socket.timeout:
        pass
    return got
before = names(time.time() + 4)
assert before and not any(before), "before the enrolment: %r" % before
subprocess.run([facectl, "enroll", "--gallery", db, "lin-manuel-miranda", photo], check=True,
               stdout=subprocess.DEVNULL)
t0 = time.time()
after = names(time.time() + 25)
assert "lin-manuel-miranda" in after, "after the enrolment: %r" % after
print("named %.1f s after facectl enroll wrote the gallery" % (time.time() - t0))
PY
rc=$?
kill "$dpid" 2>/dev/null; wait "$dpid" 2>/dev/null
check "a running daemon names someone enrolled beside it: $(tail -1 "$T/live.out")" bash -c "
[ $rc -eq 0 ] || { cat '$T/live.out' '$T/live-daemon.log'; false; }"

# 6. Rename and forget.
fc rename --gallery "$T/copy.db" rose_leslie rose >/dev/null
fc identify --gallery "$T/copy.db" "$D/face_recognition_knn/train/rose_leslie/img2.jpg" >"$T/ren.json" 2>/dev/null
check "renamed: the face is identified under the new name" grep -q '"identity":"rose"' "$T/ren.json"
status 1 "rename onto an enrolled name: exit 1" fc rename --gallery "$T/copy.db" rose obama 2>/dev/null
status 1 "rename of nobody: exit 1" fc rename --gallery "$T/copy.db" rose_leslie x 2>/dev/null
status 0 "forget" fc forget --gallery "$T/copy.db" rose >/dev/null
status 1 "forget again: exit 1" fc forget --gallery "$T/copy.db" rose 2>/dev/null
fc identify --gallery "$T/copy.db" "$D/face_recognition_knn/train/rose_leslie/img2.jpg" >"$T/fgt.json" 2>/dev/null
check "forgotten: the face is unknown" grep -q '"identity":null' "$T/fgt.json"

# 7. A damaged file: a clear error naming it and what to do.
cp "$G" "$T/broken.db"
printf 'this is not the header of an SQLite database file, not at all........................' |
	dd of="$T/broken.db" conv=notrunc 2>/dev/null
fc list --gallery "$T/broken.db" >/dev/null 2>"$T/broken.err"
check "damaged file: exit 1" [ $? -eq 1 ]
check "damaged file: the message names it and says what to do" bash -c "
grep -q '$T/broken.db' '$T/broken.err' && grep -q damaged '$T/broken.err' && grep -q 'facectl import' '$T/broken.err'"

# 8. --keep-crops stores the aligned face as JPEG; without it nothing.
fc enroll --gallery "$T/crops.db" --keep-crops alex "$D/face_recognition_knn/train/alex_lacamoire/img1.jpg" >/dev/null 2>&1
fc enroll --gallery "$T/crops.db" rose "$D/face_recognition_knn/train/rose_leslie/img1.jpg" >/dev/null 2>&1
check "crops only when asked, as JPEG" python3 -c "
import sqlite3; db = sqlite3.connect('$T/crops.db')
rows = db.execute('SELECT i.name, c.format, c.data FROM crops c JOIN templates t ON t.id = c.template_id JOIN identities i ON i.id = t.identity_id').fetchall()
assert [r[0] for r in rows] == ['alex'] and rows[0][1] == 'jpeg' and rows[0][2][:2] == b'\xff\xd8', rows"

# 9. The default place: \$XDG_STATE_HOME/facewatch/gallery.db, and
#    \$STATE_DIRECTORY (systemd) first.
XDG_STATE_HOME=$T/xdg "$FACECTL" enroll rose "$D/face_recognition_knn/train/rose_leslie/img1.jpg" >/dev/null 2>&1
check "default gallery under \$XDG_STATE_HOME, private directory" bash -c "
[ -f '$T/xdg/facewatch/gallery.db' ] && [ \$(stat -c %a '$T/xdg/facewatch') = 700 ]"
mkdir -p "$T/sd"
STATE_DIRECTORY=$T/sd XDG_STATE_HOME=$T/xdg "$FACECTL" list >"$T/sd.json" 2>/dev/null
check "\$STATE_DIRECTORY wins (nothing there yet)" bash -c "[ ! -s '$T/sd.json' ] && [ ! -f '$T/sd/gallery.db' ]"

# 10. Two enrolments at once on one gallery: both land.
fc enroll --gallery "$T/two.db" kit "$D/face_recognition_knn/train/kit_harington/john1.jpeg" >/dev/null 2>&1 &
p1=$!
fc enroll --gallery "$T/two.db" alex "$D/face_recognition_knn/train/alex_lacamoire/img1.jpg" >/dev/null 2>&1 &
p2=$!
wait $p1; s1=$?; wait $p2; s2=$?
check "two enrolments at once both land" bash -c "[ $s1 -eq 0 ] && [ $s2 -eq 0 ] && [ \$('$FACECTL' list --gallery '$T/two.db' | wc -l) -eq 2 ]"

# 11. doctor: the file, the distributions, a threshold, the closest people.
fc doctor --gallery "$G" >"$T/doctor.txt" 2>&1
check "doctor reports" bash -c "[ $? -eq 0 ] && grep -q '^genuine' '$T/doctor.txt' && grep -q '^suggested' '$T/doctor.txt' && grep -q '^closest' '$T/doctor.txt'"
fc doctor --gallery "$G" --json --far 0.01 >"$T/doctor.json"
check "doctor --json: distributions, a suggestion, integrity" python3 -c "
import json; d = json.load(open('$T/doctor.json'))
assert d['integrity'] == 'ok' and d['private'] and d['genuine']['pairs'] > 0 and d['impostor']['pairs'] >= 100, d
assert d['genuine']['mean'] > d['impostor']['mean'] + 0.5, d
assert isinstance(d['suggested_threshold'], float) and d['target_far'] == 0.01
assert d['closest_identities'] and not d['needs_reenrolment']"
cat "$T/doctor.txt"
fc doctor --gallery "$T/old.db" >"$T/doctor-old.txt" 2>&1
check "doctor names who needs re-enrolment" grep -q '^re-enrol.*kit_harington' "$T/doctor-old.txt"

echo "test_facectl_gallery: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
