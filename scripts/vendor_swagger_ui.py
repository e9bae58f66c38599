"""Vendor Swagger UI for the API docs at ``/docs`` (FastAPI's default page loads it from a CDN;
chargemesh serves it itself, so the docs work offline like the map).

Runs ``npm pack swagger-ui-dist@<VERSION>`` and copies the bundle, its stylesheet and the
licence into ``src/chargemesh/web/static/vendor/swagger-ui/`` with a ``SOURCE.md``::

    python scripts/vendor_swagger_ui.py
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

from vendor_maplibre import ROOT, VENDOR, extract, pack

PACKAGE = "swagger-ui-dist"
VERSION = "5.35.0"
TARGET = VENDOR / "swagger-ui"
FILES = {
    "package/swagger-ui-bundle.js": "swagger-ui-bundle.js",
    "package/swagger-ui.css": "swagger-ui.css",
}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tarball = pack(Path(tmp), PACKAGE, VERSION)
        digest = hashlib.sha512(tarball.read_bytes()).hexdigest()
        meta, written = extract(tarball, FILES, TARGET, VERSION)
    rows = "\n".join(f"| `{name}` | {size:,} | `{sha}` |" for name, size, sha in written)
    (TARGET / "SOURCE.md").write_text(
        f"""# Vendored: Swagger UI

- Package: npm `{PACKAGE}` {VERSION} (https://www.npmjs.com/package/{PACKAGE},
  https://github.com/swagger-api/swagger-ui)
- Licence: {meta.get("license", "Apache-2.0")} (`LICENSE.txt`, copied from the package)
- Tarball sha512: `{digest}`
- Used by `/docs` (the OpenAPI explorer), unmodified. Nothing is fetched at run time.

| file | bytes | sha256 |
| --- | --- | --- |
{rows}

## Regenerate

Edit `VERSION` in `scripts/vendor_swagger_ui.py`, then from the repository root:

```bash
python scripts/vendor_swagger_ui.py
```
""",
        encoding="utf-8",
    )
    print(f"vendored {PACKAGE} {VERSION} into {TARGET.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
