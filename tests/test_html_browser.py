"""The lesson page in a real headless browser (Debian's Chromium): the math is laid out as MathML, the
screenshot is not blank.

Run it:  python -m pytest -q tests/test_html_browser.py   (needs `apt-get install chromium`; skips without it)
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from conftest import run_mentor

CHROMIUM = next((p for p in (shutil.which("chromium"), "/usr/bin/chromium", shutil.which("chromium-browser")) if p and os.path.exists(p)), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (Debian: apt-get install -y chromium); "
                                "the page itself is still tested without a browser in tests/test_lesson_show.py")

# Added to a copy of the page only (the page mentor writes has no script): measures the laid-out math.
PROBE = """<script>
const maths = [...document.querySelectorAll('math')];
const fracs = [...document.querySelectorAll('mfrac')].map(f => {
  const [num, den] = [f.children[0].getBoundingClientRect(), f.children[1].getBoundingClientRect()];
  return num.bottom <= den.top + 1;  // typeset: the numerator sits above the denominator
});
document.body.setAttribute('data-probe', JSON.stringify({
  math: maths.length, blocks: document.querySelectorAll('math[display="block"]').length,
  laid_out: maths.filter(m => { const b = m.getBoundingClientRect(); return b.width > 0 && b.height > 0; }).length,
  fracs: fracs.length, stacked: fracs.filter(Boolean).length}));
</script>"""


def _chromium(tmp: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp / 'profile'}",
           *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180)


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("html")
    r = run_mentor("show", "neuron", "--html", "--no-open", cwd=tmp, env={"TMPDIR": str(tmp), "MENTOR_NO_BROWSER": "1"})
    assert r.returncode == 0, r.stderr
    return Path(r.stdout.strip())


def test_the_browser_lays_out_every_math_element(page: Path, tmp_path: Path):
    probe = tmp_path / "probe.html"
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    r = _chromium(tmp_path, "--dump-dom", probe.as_uri())
    assert r.returncode == 0, r.stderr[-2000:]
    assert "<math" in r.stdout and "<mfrac>" in r.stdout
    m = re.search(r'data-probe="([^"]*)"', r.stdout)
    assert m, "the probe did not run: " + r.stdout[:500]
    got = json.loads(m.group(1).replace("&quot;", '"'))
    assert got["math"] > 40 and got["blocks"] >= 3, got
    assert got["laid_out"] == got["math"], f"math elements without a layout box: {got}"
    assert got["fracs"] > 0 and got["stacked"] == got["fracs"], f"fractions not stacked (MathML not rendered): {got}"


def _png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Decode an 8-bit RGB/RGBA non-interlaced PNG (what Chromium writes) into rows of raw pixel bytes."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", chunk)
            assert depth == 8 and color in (2, 6) and interlace == 0, (depth, color, interlace)
            bpp = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, bpp, rows


def test_the_screenshot_is_not_blank(page: Path, tmp_path: Path):
    shot = tmp_path / "page.png"
    r = _chromium(tmp_path, "--window-size=900,1200", "--hide-scrollbars", f"--screenshot={shot}", page.as_uri())
    assert r.returncode == 0 and shot.is_file() and shot.stat().st_size > 10_000, r.stderr[-2000:]
    width, bpp, rows = _png_pixels(shot.read_bytes())
    colours = set()
    dark = 0
    for row in rows[::4]:
        for x in range(0, width * bpp, 4 * bpp):
            px = row[x:x + 3]
            colours.add(px)
            dark += sum(px) < 200
    assert len(colours) >= 8, f"only {len(colours)} colours: a blank page"
    assert dark > 500, "almost no dark (text) pixels"
