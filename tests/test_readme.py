"""The README's quickstart and the documentation pages' examples run and show true values."""

from __future__ import annotations

import doctest
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = sorted((ROOT / "docs").rglob("*.md"))


def _run(path: Path) -> doctest.TestResults:
    return doctest.testfile(
        str(path),
        module_relative=False,
        optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS,
    )


def test_readme_quickstart() -> None:
    result = _run(README)
    assert result.attempted >= 8
    assert result.failed == 0


def test_docs_pages_exist() -> None:
    names = {p.relative_to(ROOT / "docs").as_posix() for p in PAGES}
    assert {"index.md", "definitions.md", "concepts/nps-error-bars.md"} <= names


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_docs_page_examples(page: Path) -> None:
    assert _run(page).failed == 0
