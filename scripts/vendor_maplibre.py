"""Vendor MapLibre GL JS into the web map's static files (nothing is fetched at run time).

Runs ``npm pack maplibre-gl@<VERSION>`` in a temporary directory, extracts the browser build
and the licence into ``src/chargemesh/web/static/vendor/`` and writes ``SOURCE.md`` there.

MapLibre GL JS 6 ships only ES modules (no UMD ``maplibre-gl.js`` any more): the page imports
``maplibre-gl.mjs``, which starts its web worker from ``maplibre-gl-worker.mjs`` beside it
(resolved against ``import.meta.url``), so both are vendored, byte for byte as published.

Needs Node/npm and the npm registry; run from the repository root::

    python scripts/vendor_maplibre.py
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PACKAGE = "maplibre-gl"
VERSION = "6.17.0"
#: The style omits ``glyphs`` (text drawn with local fonts): MapLibre GL JS 5.11.0 or later.
MINIMUM = (5, 11, 0)
ROOT = Path(__file__).resolve().parent.parent
VENDOR = ROOT / "src" / "chargemesh" / "web" / "static" / "vendor"
FILES = {
    "package/dist/maplibre-gl.mjs": "maplibre-gl.mjs",
    "package/dist/maplibre-gl-worker.mjs": "maplibre-gl-worker.mjs",
    "package/dist/maplibre-gl.css": "maplibre-gl.css",
}


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("-")[0].split("."))


def pack(workdir: Path, package: str = PACKAGE, version: str = VERSION) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        sys.exit("npm not found: install Node.js (20 or later)")
    done = subprocess.run(  # noqa: S603 - fixed arguments
        [npm, "pack", f"{package}@{version}", "--json", "--silent"],
        cwd=workdir,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        sys.exit(f"npm pack failed: {done.stderr.strip()}")
    info = json.loads(done.stdout)
    return workdir / str(info[0]["filename"])


def licence_member(names: list[str], package: str = PACKAGE) -> str:
    for candidate in ("package/LICENSE.txt", "package/LICENSE", "package/LICENSE.md"):
        if candidate in names:
            return candidate
    sys.exit(f"no licence file in the {package} tarball")


def extract(
    tarball: Path, files: dict[str, str], target: Path, version: str
) -> tuple[dict[str, object], list[tuple[str, int, str]]]:
    """Copy ``files`` (tarball member → file name) and the licence into ``target``; checks
    the package's version. Returns its package.json and (file, bytes, sha256) per file."""
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tarball) as tar:
        manifest = tar.extractfile("package/package.json")
        assert manifest is not None
        meta: dict[str, object] = json.loads(manifest.read())
        if meta["version"] != version:
            sys.exit(f"npm gave {meta['version']}, expected {version}")
        members = {**files, licence_member(tar.getnames(), str(meta["name"])): "LICENSE.txt"}
        written = []
        for member, name in members.items():
            data = tar.extractfile(member)
            if data is None:
                sys.exit(f"{member} missing from the tarball")
            content = data.read()
            (target / name).write_bytes(content)
            written.append((name, len(content), hashlib.sha256(content).hexdigest()))
    return meta, written


REGENERATE = """## Regenerate

Edit `VERSION` in `scripts/vendor_maplibre.py`, then from the repository root (Node.js and the
npm registry needed):

```bash
python scripts/vendor_maplibre.py
```
"""


def main() -> None:
    if version_tuple(VERSION) < MINIMUM:
        sys.exit(f"{PACKAGE} {VERSION} is older than {'.'.join(map(str, MINIMUM))}")
    with tempfile.TemporaryDirectory() as tmp:
        tarball = pack(Path(tmp))
        digest = hashlib.sha512(tarball.read_bytes()).hexdigest()
        meta, written = extract(tarball, FILES, VENDOR, VERSION)
    rows = "\n".join(f"| `{name}` | {size:,} | `{sha}` |" for name, size, sha in written)
    path = VENDOR / "SOURCE.md"
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    # MapLibre's part is the head of the file, up to its first "## " section: the sections
    # after it (fonts, other vendored packages) are left as they are
    cut = old.find("\n## ")
    rest = old[cut + 1 :] if cut >= 0 else REGENERATE
    path.write_text(
        f"""# Vendored: MapLibre GL JS

- Package: npm `{PACKAGE}` {VERSION} (https://www.npmjs.com/package/{PACKAGE},
  https://github.com/maplibre/maplibre-gl-js)
- Licence: {meta.get("license", "BSD-3-Clause")} (`LICENSE.txt`, copied from the package)
- Tarball sha512: `{digest}`
- Why this version: the map's style has no `glyphs` URL, so labels are drawn with local fonts,
  which needs MapLibre GL JS 5.11.0 or later. Nothing is fetched at run time.
- Files: version 6 ships ES modules only. `index.html` loads `app.js` as a module, which imports
  `maplibre-gl.mjs`; that starts its web worker from `maplibre-gl-worker.mjs` in the same
  directory. The files are unmodified (their `sourceMappingURL` comments point at maps that are
  not vendored; only browser dev tools ever ask for them).

| file | bytes | sha256 |
| --- | --- | --- |
{rows}

"""
        + rest,
        encoding="utf-8",
    )
    print(f"vendored {PACKAGE} {VERSION} into {VENDOR.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
