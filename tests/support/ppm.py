"""Binary PPM (P6) images, as ImageMagick's convert writes them from the
tests' snapshots: read one, and its pixels. Standard library only."""


def read_ppm(path):
    """(width, height, pixels): pixels are RGB bytes, row after row."""
    data = open(path, "rb").read()
    parts, pos = [], 0
    while len(parts) < 4:  # magic, width, height, maxval; comments skipped
        while data[pos:pos + 1].isspace():
            pos += 1
        if data[pos:pos + 1] == b"#":
            pos = data.index(b"\n", pos)
            continue
        end = pos
        while not data[end:end + 1].isspace():
            end += 1
        parts.append(data[pos:end])
        pos = end
    if parts[0] != b"P6" or parts[3] != b"255":
        raise ValueError("%s: not an 8-bit binary PPM" % path)
    return int(parts[1]), int(parts[2]), data[pos + 1:]


def pixel(img, x, y):
    """The (r, g, b) at x, y of read_ppm()'s result, clamped to the image."""
    w, h, pix = img
    x, y = min(max(int(x), 0), w - 1), min(max(int(y), 0), h - 1)
    i = (y * w + x) * 3
    return tuple(pix[i:i + 3])
