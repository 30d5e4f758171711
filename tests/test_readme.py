"""The README's quickstart and every code block of the documentation run and show true values.

Each page runs in a fresh temporary directory, its fenced blocks in order and in one
namespace, as a reader would paste them: ```python blocks are executed, ```pycon blocks
are doctests whose printed output must match. A page may create files (the "Your own
data" tutorial writes its own CSV files) and later blocks read them. A few pages show
code that reads data the reader has (Parquet files, a DuckDB warehouse); `SETUP`
creates small stand-ins for those first, so that those blocks run too. ```bash and
```text blocks are not run.
"""

from __future__ import annotations

import doctest
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = sorted((ROOT / "docs").rglob("*.md"))
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
FLAGS = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS

# Stand-ins for data a page assumes the reader has, created in the page's directory.
_CDNOW = "from loyaltymetrics import datasets, tables\norders = datasets.load_cdnow()\n"
SETUP = {
    "concepts/segmentation.md": _CDNOW,
    "concepts/scaling.md": """
import os
import duckdb
from loyaltymetrics import datasets
_log = datasets.load_cdnow()
os.makedirs("orders")
for _i in range(3):
    _log.filter(_log["customer_id"] % 3 == _i).write_parquet(f"orders/part-{_i}.parquet")
with duckdb.connect("warehouse.duckdb") as _con:
    _con.sql(
        "create table orders as select customer_id, timestamp as ordered_at, "
        "amount as total from _log"
    )
""",
}
# Blocks that are not a program: the reason is shown by pytest's summary.
NOT_RUN = {
    "benchmarks.md": "an excerpt of the 500M-order benchmark command, not a program",
}


def _blocks(text: str) -> list[tuple[str, str, int]]:
    """(language, code, line of the code) of each fenced block."""
    return [(m.group(1), m.group(2), text.count("\n", 0, m.start(2))) for m in FENCE.finditer(text)]


def run_page(path: Path, setup: str = "") -> tuple[int, int]:
    """Run a page's blocks in order in one namespace; return (failed, attempted)."""
    text = path.read_text(encoding="utf-8")
    namespace: dict[str, object] = {"__name__": "__main__"}
    if setup:
        exec(compile(setup, f"<setup of {path.name}>", "exec"), namespace)
    parser = doctest.DocTestParser()
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    attempted = 0
    for language, code, line in _blocks(text):
        if language == "python":
            exec(compile("\n" * line + code, str(path), "exec"), namespace)
            attempted += 1
        elif language == "pycon" or code.lstrip().startswith(">>>"):
            test = parser.get_doctest(code, namespace, path.name, str(path), line)
            runner.run(test, clear_globs=False)
            namespace.update(test.globs)
            attempted += len(test.examples)
    _close_figures()
    return runner.failures, attempted


def _close_figures() -> None:
    try:
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover - the test extra installs it
        return
    plt.close("all")


@pytest.fixture(autouse=True)
def _in_a_temporary_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    if "matplotlib" in sys.modules:
        import matplotlib

        matplotlib.use("Agg")


def test_readme_quickstart() -> None:
    failed, attempted = run_page(README)
    assert attempted >= 8
    assert failed == 0


def test_docs_pages_exist() -> None:
    names = {p.relative_to(ROOT / "docs").as_posix() for p in PAGES}
    assert {
        "index.md",
        "definitions.md",
        "concepts/nps-error-bars.md",
        "guides/your-own-data.md",
        "guides/migrating-from-lifetimes.md",
        "guides/faq.md",
        "guides/gallery.md",
    } <= names


def test_fences_are_found() -> None:
    # the block finder itself: a python and a pycon block, in order, with their lines
    text = "x\n```python\na = 1\n```\n\n```pycon\n>>> a + 1\n2\n```\n"
    assert _blocks(text) == [("python", "a = 1\n", 2), ("pycon", ">>> a + 1\n2\n", 6)]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_docs_page_examples(page: Path) -> None:
    name = page.relative_to(ROOT / "docs").as_posix()
    if name in NOT_RUN:
        pytest.skip(NOT_RUN[name])
    failed, _ = run_page(page, SETUP.get(name, ""))
    assert failed == 0


def test_gallery_images_are_committed() -> None:
    # the page's code writes gallery/<name>.png; scripts/gallery.py refreshes docs/gallery
    page = (ROOT / "docs" / "guides" / "gallery.md").read_text(encoding="utf-8")
    shown = re.findall(r"!\[[^\]]*\]\(\.\./gallery/([\w-]+\.png)\)", page)
    saved = re.findall(r'save\([^\n]*"([\w-]+)"\)', page)
    assert len(shown) >= 6
    assert sorted(shown) == sorted(f"{name}.png" for name in saved)
    for name in shown:
        assert (ROOT / "docs" / "gallery" / name).stat().st_size > 5_000, name


def test_the_version_and_status_shown_are_the_packages() -> None:
    import tomllib

    version = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "version"
    ]
    home = (ROOT / "docs" / "index.md").read_text(encoding="utf-8")
    assert f'!!! warning "Pre-alpha: version {version}"' in home
    assert f"Status: pre-alpha ({version})" in README.read_text(encoding="utf-8")


def test_install_lists_name_every_user_extra() -> None:
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "optional-dependencies"
    ]
    for path in (README, ROOT / "docs" / "index.md"):
        text = path.read_text(encoding="utf-8")
        # the developer extras (tests, lint, docs, release tools) are not for users
        for extra in set(extras) - {"test", "lint", "docs", "release", "dev", "engines"}:
            assert f'pip install "loyaltymetrics[{extra}]"' in text, (path.name, extra)


def test_readme_separates_using_from_developing() -> None:
    text = README.read_text(encoding="utf-8")
    using, developing = text.index("## Install"), text.index("## Developing loyaltymetrics")
    assert using < developing
    # CI reads the test command from the README's developing section
    assert "```bash\nbash .ci/run\n```" in text[developing:]
    assert "bash .ci/run" not in text[:developing]
