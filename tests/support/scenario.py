#!/usr/bin/env python3
"""Builds a replay folder (facewatchd --camera replay:FOLDER) that plays a
desk scenario from the Hamilton frames: numbered symbolic links to the
shared frames (nothing is copied) and an empty grey frame for the gaps.

  scenario.py OUT FRAMES_DIR SPEC...
  SPEC: A-B   the shared frames A..B (inclusive)
        gap:N N empty frames (nobody at the desk)

At 30 fps, "90-299 gap:75 100-299" is: the owner at the desk, a 2.5 s
glance away, the owner back, then the replay ends (the owner left)."""
import os
import struct
import sys
import zlib


def grey_png(path, w=640, h=360):
    raw = b"".join(b"\x00" + b"\x80" * (w * 3) for _ in range(h))

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(raw, 6)))
        f.write(chunk(b"IEND", b""))


def main():
    out, frames, specs = sys.argv[1], sys.argv[2], sys.argv[3:]
    os.makedirs(out, exist_ok=True)
    blank = os.path.join(out, ".blank.png")  # hidden: not a frame itself
    grey_png(blank)
    n = 0
    for spec in specs:
        if spec.startswith("gap:"):
            for _ in range(int(spec[4:])):
                os.symlink(blank, os.path.join(out, "%05d.png" % n))
                n += 1
        else:
            a, b = (int(x) for x in spec.split("-"))
            for i in range(a, b + 1):
                src = os.path.join(frames, "frame_%04d.jpg" % i)
                if not os.path.exists(src):
                    sys.exit("scenario: no frame %s" % src)
                os.symlink(os.path.abspath(src), os.path.join(out, "%05d.jpg" % n))
                n += 1
    print(n)


if __name__ == "__main__":
    main()
