"""Write the images of docs/guides/gallery.md by running that page's code in docs/.

Run: python scripts/gallery.py. The tests run the same code (in a temporary
directory) and check that every image the page shows is committed.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "guides" / "gallery.md"


def main() -> None:
    """Run the page's python blocks in order, with docs/ as the working directory."""
    code = re.findall(r"^```python\n(.*?)^```", PAGE.read_text(encoding="utf-8"), re.M | re.S)
    os.chdir(ROOT / "docs")
    namespace: dict[str, object] = {"__name__": "__main__"}
    for block in code:
        exec(compile(block, str(PAGE), "exec"), namespace)
    print(f"wrote {len(list((ROOT / 'docs' / 'gallery').glob('*.png')))} images", file=sys.stderr)


if __name__ == "__main__":
    main()
