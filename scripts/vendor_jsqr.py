"""Vendor jsQR into the web app's static files: the driver app's "Scan to charge" decodes the
charger's QR code from camera frames in the page (Chromium on Linux has no ``BarcodeDetector``).

Runs ``npm pack jsqr@<VERSION>`` in a temporary directory, copies the browser build and the
licence into ``src/chargemesh/web/static/vendor/`` byte for byte, and writes (or replaces) the
jsQR section of ``SOURCE.md`` there; the rest of that file is left as it is.

jsQR ships one UMD file (``dist/jsQR.js``): loaded with ``importScripts`` in the page's decoding
worker (``scan-worker.js``) it defines ``self.jsQR``.

Needs Node/npm and the npm registry; run from the repository root::

    python scripts/vendor_jsqr.py
"""

from __future__ import annotations

import hashlib
import json
import re
import tarfile
import tempfile
from pathlib import Path

from vendor_maplibre import VENDOR, pack

PACKAGE = "jsqr"
VERSION = "1.4.0"
ROOT = Path(__file__).resolve().parent.parent
#: tarball member → file name in vendor/
FILES = {"package/dist/jsQR.js": "jsqr.js", "package/LICENSE": "jsqr-LICENSE.txt"}
BEGIN, END = "<!-- jsqr: begin -->", "<!-- jsqr: end -->"


def extract(tarball: Path, target: Path) -> tuple[dict[str, object], list[tuple[str, int, str]]]:
    """Copy ``FILES`` out of the tarball into ``target`` after checking the package's name and
    version. Returns its package.json and (file, bytes, sha256) per file."""
    with tarfile.open(tarball) as tar:
        manifest = tar.extractfile("package/package.json")
        if manifest is None:
            raise SystemExit("package.json missing from the tarball")
        meta: dict[str, object] = json.loads(manifest.read())
        if (meta["name"], meta["version"]) != (PACKAGE, VERSION):
            raise SystemExit(f"npm gave {meta['name']} {meta['version']}, not {VERSION}")
        written = []
        for member, name in FILES.items():
            data = tar.extractfile(member)
            if data is None:
                raise SystemExit(f"{member} missing from the tarball")
            content = data.read()
            (target / name).write_bytes(content)
            written.append((name, len(content), hashlib.sha256(content).hexdigest()))
    return meta, written


def section(meta: dict[str, object], digest: str, written: list[tuple[str, int, str]]) -> str:
    rows = "\n".join(f"| `{name}` | {size:,} | `{sha}` |" for name, size, sha in written)
    return f"""{BEGIN}
# Vendored: jsQR

- Package: npm `{PACKAGE}` {VERSION} (https://www.npmjs.com/package/{PACKAGE},
  https://github.com/cozmo/jsQR)
- Licence: {meta.get("license", "Apache-2.0")} (`jsqr-LICENSE.txt`, the package's `LICENSE`)
- Tarball sha512: `{digest}`
- What for: "Scan to charge" in the driver app reads the charger's QR code from the camera.
  Chromium on Linux has no `BarcodeDetector`, so frames are decoded in the page: `scan.js`
  posts each frame's pixels to `scan-worker.js`, a classic web worker that loads `jsqr.js`
  (the package's `dist/jsQR.js`, a UMD build: it defines `self.jsQR`) with `importScripts`.
  Unmodified; nothing is fetched at run time.

| file | bytes | sha256 |
| --- | --- | --- |
{rows}

Regenerate: edit `VERSION` in `scripts/vendor_jsqr.py`, then from the repository root (Node.js
and the npm registry needed): `python scripts/vendor_jsqr.py`.
{END}"""


def write_source(text: str) -> None:
    """Put the jsQR section into SOURCE.md: in place of the old one, else at the end."""
    path = VENDOR / "SOURCE.md"
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    pattern = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.DOTALL)
    if pattern.search(old):
        new = pattern.sub(lambda _: text, old)
    else:
        new = (old.rstrip("\n") + "\n\n" if old else "") + text + "\n"
    path.write_text(new, encoding="utf-8")


def main() -> None:
    VENDOR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        tarball = pack(Path(tmp), PACKAGE, VERSION)
        digest = hashlib.sha512(tarball.read_bytes()).hexdigest()
        meta, written = extract(tarball, VENDOR)
    write_source(section(meta, digest, written))
    print(f"vendored {PACKAGE} {VERSION} into {VENDOR.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
