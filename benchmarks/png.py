"""A small RGB canvas (lines, discs, rectangles, 5x7 bitmap text) that saves itself as PNG.

Enough to draw a line chart without a plotting library: PNG is a zlib stream of
filtered rows in three chunks (`IHDR`, `IDAT`, `IEND`), each with a CRC.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Final

__all__ = ["BLACK", "GRAY", "LIGHT_GRAY", "RGB", "WHITE", "Canvas", "encode_png"]

RGB = tuple[int, int, int]
WHITE: Final[RGB] = (255, 255, 255)
BLACK: Final[RGB] = (0, 0, 0)
GRAY: Final[RGB] = (110, 110, 110)
LIGHT_GRAY: Final[RGB] = (225, 225, 225)

# The classic 5x7 font (with descenders in an eighth row): five columns per glyph, bit 0
# the top row.
_FONT_CHARS: Final = (" !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`"
                      "abcdefghijklmnopqrstuvwxyz{|}~")
_FONT: Final = bytes.fromhex(
    "0000000000 00005f0000 0007000700 147f147f14 242a7f2a12 2313086462"
    " 3649552250 0005030000 001c224100 0041221c00 2a1c7f1c2a 08083e0808"
    " 0050300000 0808080808 0060600000 2010080402 3e5149453e 00427f4000"
    " 4261514946 2141454b31 1814127f10 2745454539 3c4a494930 0171090503"
    " 3649494936 064949291e 0036360000 0056360000 0814224100 1414141414"
    " 0041221408 0201510906 324979413e 7e1111117e 7f49494936 3e41414122"
    " 7f4141221c 7f49494941 7f09090901 3e4149497a 7f0808087f 00417f4100"
    " 2040413f01 7f08142241 7f40404040 7f020c027f 7f0408107f 3e4141413e"
    " 7f09090906 3e4151215e 7f09192946 4649494931 01017f0101 3f4040403f"
    " 1f2040201f 3f4038403f 6314081463 0708700807 6151494543 007f414100"
    " 0204081020 0041417f00 0402010204 4040404040 0001020400 2054545478"
    " 7f48444438 3844444420 384444487f 3854545418 087e090102 18a4a4a47c"
    " 7f08040478 00447d4000 4080847d00 7f10284400 00417f4000 7c04180478"
    " 7c08040478 3844444438 fc24242418 18242418fc 7c08040408 4854545420"
    " 043f444020 3c4040207c 1c2040201c 3c4030403c 4428102844 9ca0a0a07c"
    " 4464544c44 0008364100 00007f0000 0041360800 1008081008"
)
GLYPH_WIDTH: Final = 5
GLYPH_HEIGHT: Final = 8
_GLYPHS: Final[dict[str, bytes]] = {
    ch: _FONT[GLYPH_WIDTH * n:GLYPH_WIDTH * (n + 1)] for n, ch in enumerate(_FONT_CHARS)
}


def encode_png(width: int, height: int, rgb: bytes) -> bytes:
    """A PNG (8-bit RGB, no interlace) of `rgb`, rows top to bottom."""
    stride = 3 * width
    raw = b"".join(b"\x00" + rgb[y * stride:(y + 1) * stride] for y in range(height))

    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(tag + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


class Canvas:
    """An RGB image to draw on; (0, 0) is the top left corner."""

    def __init__(self, width: int, height: int, background: RGB = WHITE) -> None:
        self.width, self.height = width, height
        self._pixels = bytearray(bytes(background) * (width * height))

    def dot(self, x: int, y: int, color: RGB) -> None:
        """One pixel (ignored outside the canvas)."""
        if 0 <= x < self.width and 0 <= y < self.height:
            offset = 3 * (y * self.width + x)
            self._pixels[offset:offset + 3] = bytes(color)

    def rect(self, x0: int, y0: int, x1: int, y1: int, color: RGB) -> None:
        """A filled rectangle with corners (x0, y0) and (x1, y1), both included."""
        for y in range(min(y0, y1), max(y0, y1) + 1):
            for x in range(min(x0, x1), max(x0, x1) + 1):
                self.dot(x, y, color)

    def disc(self, cx: int, cy: int, radius: int, color: RGB) -> None:
        """A filled circle."""
        for dy in range(-radius, radius + 1):
            for dx in range(-radius, radius + 1):
                if dx * dx + dy * dy <= radius * radius + radius:
                    self.dot(cx + dx, cy + dy, color)

    def line(self, x0: int, y0: int, x1: int, y1: int, color: RGB, *, width: int = 1,
             dash: int = 0) -> None:
        """A straight line `width` pixels thick; `dash` > 0 draws dashes that long."""
        steps = max(abs(x1 - x0), abs(y1 - y0), 1)
        for step in range(steps + 1):
            if dash and (step // dash) % 2:
                continue
            x = round(x0 + (x1 - x0) * step / steps)
            y = round(y0 + (y1 - y0) * step / steps)
            if width <= 1:
                self.dot(x, y, color)
            else:
                self.disc(x, y, width // 2, color)

    @staticmethod
    def text_width(text: str, scale: int = 1) -> int:
        """How wide `text` is drawn at `scale`, in pixels."""
        return max(0, len(text) * (GLYPH_WIDTH + 1) * scale - scale)

    def text(self, x: int, y: int, text: str, color: RGB, *, scale: int = 1) -> None:
        """`text` with its top left corner at (x, y); unknown characters print as `?`."""
        for ch in text:
            for column, bits in enumerate(_GLYPHS.get(ch, _GLYPHS["?"])):
                for row in range(GLYPH_HEIGHT):
                    if bits >> row & 1:
                        left, top = x + column * scale, y + row * scale
                        self.rect(left, top, left + scale - 1, top + scale - 1, color)
            x += (GLYPH_WIDTH + 1) * scale

    def png(self) -> bytes:
        """The image as PNG bytes."""
        return encode_png(self.width, self.height, bytes(self._pixels))

    def save(self, path: Path) -> None:
        """Write the image to `path` as PNG."""
        path.write_bytes(self.png())
