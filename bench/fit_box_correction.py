#!/usr/bin/env python3
"""Fit the detector's box-shape correction (core/detector.c BOX_DY, BOX_SW, BOX_SH).

BlazeFace returns squares around the eyes, nose and mouth; WIDER FACE's boxes run
from the hairline to the chin. For every detection that overlaps a valid face
(IoU >= 0.5 after the best uniform rescale, so that the match does not depend on
the correction being fitted), take the face box relative to the raw square box of
side s: vertical centre offset / s, width / s, height / s; print the medians.

  facectl eval detect GT.txt --attributes GT_ATTR.txt --detector D --raw-boxes \
      --save-detections raw_D.txt          # for D in short full auto
  python3 bench/fit_box_correction.py GT_ATTR.txt raw_short.txt raw_full.txt raw_auto.txt

Only detections scoring >= 0.5 and faces >= 20 px wide are used: tiny faces are
annotated loosely and say little about shape. Pure Python, no dependencies.
"""
import statistics
import sys


def read_list(path, cols):
    out, lines, i = {}, open(path).read().split("\n"), 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        p, n = lines[i].rsplit(None, 1)
        n = int(n)
        out[p] = [list(map(float, lines[i + 1 + k].split()))[:cols] for k in range(n)]
        i += 1 + n
    return out


def iou(a, b):
    iw = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    ih = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    return iw * ih / (a[2] * a[3] + b[2] * b[3] - iw * ih)


def main():
    gt = read_list(sys.argv[1], 13)
    rows = {"dx": [], "dy": [], "sw": [], "sh": []}
    for path in sys.argv[2:]:
        det = read_list(path, 5)
        per = {"dx": [], "dy": [], "sw": [], "sh": []}
        for img, boxes in gt.items():
            faces = [b for b in boxes if b[7] == 0 and b[2] >= 20]
            for d in det.get(img, []):
                if d[4] < 0.5 or not faces:
                    continue
                s = d[2]
                cx, cy = d[0] + d[2] / 2, d[1] + d[3] / 2
                # match against the face with the best IoU once the square is
                # stretched to the face's aspect ratio (shape-neutral matching)
                best, bf = 0.0, None
                for f in faces:
                    stretched = [cx - s / 2, cy - f[3] / f[2] * s / 2, s, f[3] / f[2] * s]
                    o = iou(stretched, f[:4])
                    if o > best:
                        best, bf = o, f
                if best < 0.5:
                    continue
                per["dx"].append((bf[0] + bf[2] / 2 - cx) / s)
                per["dy"].append((bf[1] + bf[3] / 2 - cy) / s)
                per["sw"].append(bf[2] / s)
                per["sh"].append(bf[3] / s)
        print("%-40s n=%4d  dx %+.3f  dy %+.3f  sw %.3f  sh %.3f" % (
            path, len(per["dx"]), *(statistics.median(per[k]) for k in ("dx", "dy", "sw", "sh"))))
        for k in rows:
            rows[k] += per[k]
    print("%-40s n=%4d  dx %+.3f  dy %+.3f  sw %.3f  sh %.3f" % (
        "all", len(rows["dx"]), *(statistics.median(rows[k]) for k in ("dx", "dy", "sw", "sh"))))


if __name__ == "__main__":
    main()
