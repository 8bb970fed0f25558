#!/usr/bin/env python3
"""Where a detector loses WIDER AP: missed faces and high-ranking false
positives, from the detections `facectl eval detect --save-detections` (or
bench/yunet_detect.cpp) writes, against gt_attributes.txt.

    python3 bench/analyze_detect.py GT_ATTRIBUTES.txt DETS.txt [DETS2.txt ...]
        [--min-frac 0.07] [--min-face PX] [--split all|even|odd]
        [--op 0.5] [--top 25] [--merge-iou 0.3] [--scale K=S ...]

Scores AP exactly as core/eval.c does (WIDER protocol: IoU 0.5 with
inclusive pixels, faces outside the setting, invalid or below the size
limit ignored), for the whole subset or one half of it (--split even/odd:
the images at even / odd positions of the list, for checking that a change
tuned on one half holds on the other). With several detection files the
detections of all are merged by weighted NMS (as core/detector.c merges
runs) before scoring: a quick way to see what a combination of detectors
could give before building it (--scale FILEINDEX=FACTOR multiplies one
file's scores first, for calibration).

Then the breakdown: kept faces never found (at any score, and at the
operating score --op) by size (fraction of the image width), position,
aspect, and WIDER's blur/occlusion/pose flags; and the best-scoring false
positives, each classed as a duplicate, a loose box on a face (IoU
0.3..0.5), a box on an ignored face or background. Pure Python (no numpy).
"""
import argparse
import os
import struct
import sys

ATTR = ("blur", "expression", "illumination", "invalid", "occlusion", "pose")


def read_list(path, cols):
    out = []
    with open(path) as f:
        lines = f.read().split("\n")
    i = 0
    while i < len(lines):
        ln = lines[i].strip()
        i += 1
        if not ln:
            continue
        p = ln.rsplit(None, 1)
        n = int(p[1])
        boxes = []
        for _ in range(n):
            v = [float(x) for x in lines[i].split()]
            i += 1
            if len(v) != cols:
                sys.exit("%s: line %d: %d fields, expected %d" % (path, i, len(v), cols))
            boxes.append(v)
        out.append((p[0], boxes))
    return out


def jpeg_size(path):
    """(width, height) from a JPEG's SOF marker, or a PNG's IHDR."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return struct.unpack(">II", data[16:24])
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            i += 1
            continue
        m = data[i + 1]
        if m in (0xD8, 0x01) or 0xD0 <= m <= 0xD7:
            i += 2
            continue
        seg = struct.unpack(">H", data[i + 2:i + 4])[0]
        if 0xC0 <= m <= 0xCF and m not in (0xC4, 0xC8, 0xCC):
            h, w = struct.unpack(">HH", data[i + 5:i + 9])
            return w, h
        i += 2 + seg
    raise ValueError("%s: no frame header" % path)


def iou(a, b):
    """a, b: x, y, w, h; inclusive pixels as WIDER (core/eval.c)."""
    iw = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]) + 1
    ih = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]) + 1
    if iw <= 0 or ih <= 0:
        return 0.0
    ua = (a[2] + 1) * (a[3] + 1) + (b[2] + 1) * (b[3] + 1) - iw * ih
    return iw * ih / ua if ua > 0 else 0.0


def iou_corners(a, b):
    """IoU of x, y, w, h boxes as core/detector.c's fw_detection_iou (no +1)."""
    iw = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    ih = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    u = a[2] * a[3] + b[2] * b[3] - iw * ih
    return iw * ih / u if u > 0 else 0.0


def merge_weighted(dets, thr):
    """Weighted NMS as core/detector.c merge_weighted(): the best remaining
    detection and all overlapping it by IoU > thr, averaged by score."""
    rest = sorted(dets, key=lambda d: -d[4])
    out = []
    while rest:
        best = rest[0]
        grp = [d for d in rest if d is best or iou_corners(d, best) > thr]
        keep = [d for d in rest if not (d is best or iou_corners(d, best) > thr)]
        tw = sum(d[4] for d in grp)
        x1 = sum(d[4] * d[0] for d in grp) / tw
        y1 = sum(d[4] * d[1] for d in grp) / tw
        x2 = sum(d[4] * (d[0] + d[2]) for d in grp) / tw
        y2 = sum(d[4] * (d[1] + d[3]) for d in grp) / tw
        out.append([x1, y1, x2 - x1, y2 - y1, best[4]])
        rest = keep
    return out


def evaluate(images, dets, keep_fn):
    """WIDER matching per image; returns (records, positives, per-face
    best score found, per-detection class)."""
    recs = []
    positives = 0
    found = {}    # (image, face) -> highest score of a detection recalling it
    fp = []       # (score, image, det, class, best iou)
    for ii, (path, gts, width) in enumerate(images):
        keep = [keep_fn(g, width) for g in gts]
        positives += sum(keep)
        ds = dets.get(path, [])
        if not gts or not ds:
            continue
        state = [0] * len(gts)
        for d in sorted(ds, key=lambda d: -d[4]):
            best, bi = -1.0, -1
            for gi, g in enumerate(gts):
                o = iou(d, g)
                if o > best:
                    best, bi = o, gi
            if best >= 0.5:
                if not keep[bi]:
                    recs.append((d[4], 0, 0))
                    continue
                if state[bi] == 0:
                    state[bi] = 1
                    recs.append((d[4], 1, 1))
                    found[(ii, bi)] = d[4]
                    continue
                recs.append((d[4], 1, 0))
                fp.append((d[4], ii, d, "duplicate", best))
                continue
            recs.append((d[4], 1, 0))
            # why it is false: the kept face it overlaps most
            kb, kbi = 0.0, -1
            for gi, g in enumerate(gts):
                o = iou(d, g)
                if keep[gi] and o > kb:
                    kb, kbi = o, gi
            if kb >= 0.3:
                cls = "loose box (IoU 0.3-0.5) on a kept face"
            elif best >= 0.3:
                cls = "loose box on an ignored face"
            elif best > 0:
                cls = "background near a face"
            else:
                cls = "background"
            fp.append((d[4], ii, d, cls, max(kb, best)))
    return recs, positives, found, fp


def ap_of(recs, positives):
    recs = sorted(recs, key=lambda r: -r[0])
    prop = rec = 0
    pts = []
    for i, (s, p, r) in enumerate(recs):
        prop += p
        rec += r
        if i + 1 < len(recs) and recs[i + 1][0] == s:
            continue
        if prop == 0:
            continue
        pts.append((s, rec / prop, rec / positives if positives else 0))
    mrec = [0.0] + [p[2] for p in pts] + [1.0]
    mpre = [0.0] + [p[1] for p in pts] + [0.0]
    for i in range(len(mpre) - 2, -1, -1):
        mpre[i] = max(mpre[i], mpre[i + 1])
    return sum((mrec[i + 1] - mrec[i]) * mpre[i + 1] for i in range(len(mrec) - 1)), pts


def recall_at(pts, op):
    r = 0.0
    for s, p, rc in pts:
        if s >= op:
            r = rc
    return r


def table(title, rows):
    print("\n" + title)
    for k, (n, m) in sorted(rows.items()):
        print("  %-28s %4d faces, missed %4d (%4.1f %%)" % (k, n, m, 100.0 * m / n if n else 0))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("gt_attributes")
    ap.add_argument("dets", nargs="+")
    ap.add_argument("--min-frac", type=float, default=0.07)
    ap.add_argument("--min-face", type=float, default=0)
    ap.add_argument("--split", choices=("all", "even", "odd"), default="all")
    ap.add_argument("--op", type=float, default=0.5)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--merge-iou", type=float, default=0.3)
    ap.add_argument("--scale", action="append", default=[], help="FILEINDEX=FACTOR")
    ap.add_argument("--quiet", action="store_true", help="only the AP line")
    a = ap.parse_args()

    gt = read_list(a.gt_attributes, 13)
    base = os.path.dirname(a.gt_attributes)
    images = []
    for i, (path, boxes) in enumerate(gt):
        if a.split == "even" and i % 2 or a.split == "odd" and not i % 2:
            continue
        images.append((path, boxes, jpeg_size(os.path.join(base, path))[0]))
    scale = {}
    for s in a.scale:
        k, v = s.split("=")
        scale[int(k)] = float(v)
    per_file = []
    for fi, f in enumerate(a.dets):
        per_file.append({p: [b[:4] + [min(1.0, b[4] * scale.get(fi, 1.0))] for b in bs]
                         for p, bs in read_list(f, 5)})
    if len(per_file) == 1:
        dets = per_file[0]
    else:
        dets = {}
        for path, _, _ in images:
            allb = [b for pf in per_file for b in pf.get(path, [])]
            dets[path] = merge_weighted(allb, a.merge_iou)

    def keep_fn(g, width):
        return (g[7] == 0 and g[2] >= a.min_face and
                not (a.min_frac > 0 and g[2] < a.min_frac * width))

    recs, pos, found, fps = evaluate(images, dets, keep_fn)
    apv, pts = ap_of(recs, pos)
    print("AP %.4f  (%d images, %d faces kept, recall @ %.2f %.3f, max recall %.3f)" % (
        apv, len(images), pos, a.op, recall_at(pts, a.op), pts[-1][2] if pts else 0))
    if a.quiet:
        return

    # missed faces, by property
    by = {}
    missed_list = []
    for ii, (path, gts, width) in enumerate(images):
        h_img = jpeg_size(os.path.join(base, path))[1]
        for gi, g in enumerate(gts):
            if not keep_fn(g, width):
                continue
            s = found.get((ii, gi))
            miss = s is None or s < a.op
            frac = g[2] / width
            keys = []
            keys.append("size %s" % ("0.07-0.10" if frac < 0.10 else "0.10-0.15" if frac < 0.15
                                      else "0.15-0.25" if frac < 0.25 else "0.25-0.40" if frac < 0.40 else ">=0.40"))
            asp = g[3] / max(g[2], 1)
            keys.append("aspect h/w %s" % ("<1.1" if asp < 1.1 else "1.1-1.3" if asp < 1.3 else "1.3-1.5" if asp < 1.5 else ">=1.5"))
            cx, cy = (g[0] + g[2] / 2) / width, (g[1] + g[3] / 2) / h_img
            keys.append("centre x %s" % ("edge" if cx < 0.15 or cx > 0.85 else "middle"))
            keys.append("centre y %s" % ("top" if cy < 0.25 else "bottom" if cy > 0.75 else "middle"))
            for k, name in ((4, "blur"), (8, "occlusion"), (9, "pose")):
                keys.append("%s %d" % (name, g[k]))
            keys.append("event %s" % path.split("/")[0])
            for k in keys:
                n, m = by.get(k, (0, 0))
                by[k] = (n + 1, m + miss)
            if miss:
                missed_list.append((s or 0.0, path, g[:4], frac, asp, g[4], g[8], g[9]))
    table("kept faces missed at score >= %.2f (not found, or only below it)" % a.op, by)
    print("\nmissed faces (best score of a matching detection, 0 = none):")
    for m in sorted(missed_list, key=lambda m: -m[3])[:a.top]:
        print("  %.3f %-50s box %4d %4d %4d %4d  w/W %.3f h/w %.2f blur %d occl %d pose %d" % (
            m[0], m[1], *[int(v) for v in m[2]], m[3], m[4], m[5], m[6], m[7]))

    # false positives ranked
    fps.sort(key=lambda f: -f[0])
    cls = {}
    for f in fps:
        if f[0] >= a.op:
            cls[f[3]] = cls.get(f[3], 0) + 1
    print("\nfalse positives at score >= %.2f by class:" % a.op)
    for k, v in sorted(cls.items(), key=lambda kv: -kv[1]):
        print("  %-40s %d" % (k, v))
    print("\nbest-scoring false positives:")
    for s, ii, d, c, o in fps[:a.top]:
        print("  %.3f %-50s box %4d %4d %4d %4d  %s (IoU %.2f)" % (
            s, images[ii][0], *[int(v) for v in d[:4]], c, o))


if __name__ == "__main__":
    main()
