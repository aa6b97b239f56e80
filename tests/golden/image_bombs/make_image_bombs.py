#!/usr/bin/python3
"""Writes the decompression bombs of tests/e2e/cli_image_bounds_test.cc: files under 1 KB whose
headers declare 30000x30000 pixels (2.7 GB of RGB once decoded).

  bomb_30000x30000.jpg  a 16x16 RGB baseline JPEG whose SOF0 size was patched to 30000x30000
                        (libjpeg decodes it, padding the missing data with gray, after allocating
                        the whole image);
  bomb_30000x30000.png  a well-formed PNG (valid CRCs, IEND) whose IHDR says 30000x30000 RGB and
                        whose IDAT holds only the first rows.
"""
import io
import struct
import zlib
from pathlib import Path

from PIL import Image

HERE = Path(__file__).resolve().parent
SIZE = 30000


def jpeg_bomb() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 120, 40)).save(buf, format="JPEG", quality=50)
    data = bytearray(buf.getvalue())
    sof = data.index(b"\xff\xc0")
    # FFC0, length(2), precision(1), height(2), width(2)
    data[sof + 5:sof + 9] = struct.pack(">HH", SIZE, SIZE)
    return bytes(data)


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_bomb() -> bytes:
    ihdr = struct.pack(">IIBBBBB", SIZE, SIZE, 8, 2, 0, 0, 0)  # 8-bit RGB
    rows = zlib.compress(b"\0" * (1 + 3 * SIZE) * 2, 9)  # two rows of black
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", rows) + png_chunk(b"IEND", b"")


if __name__ == "__main__":
    for name, data in [("bomb_30000x30000.jpg", jpeg_bomb()), ("bomb_30000x30000.png", png_bomb())]:
        assert len(data) < 1024, (name, len(data))
        (HERE / name).write_bytes(data)
        print(name, len(data), "bytes")
