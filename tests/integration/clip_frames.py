#!/usr/bin/env python3
"""Frames [first, last) of a .mjpeg clip (concatenated JPEGs, EOI then SOI)
into a new file: a test's own cut of the shared clip, read in place.
usage: clip_frames.py IN.mjpeg FIRST LAST OUT.mjpeg"""
import sys

src, first, last, dst = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
d = open(src, "rb").read()
starts, p = [0], 0
while True:
    i = d.find(b"\xff\xd9\xff\xd8", p)
    if i < 0:
        break
    starts.append(i + 2)
    p = i + 2
starts.append(len(d))
if last > len(starts) - 1:
    sys.exit("%s has %d frames, fewer than %d" % (src, len(starts) - 1, last))
with open(dst, "wb") as f:
    f.write(d[starts[first]:starts[last]])
