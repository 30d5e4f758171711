"""The release artifacts: what the wheel and the sdist hold, and the tested version floor.

The wheel and the sdist are built here with hatchling, the build backend (about a second
each), or the wheel is taken from ``LOYALTYMETRICS_WHEEL`` (CI sets it to the wheel that it
installed). Without hatchling (``pip install "loyaltymetrics[release]"``) the build tests
are skipped with that reason.
"""

from __future__ import annotations

import email
import importlib.metadata
import os
import re
import tarfile
import tomllib
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PROJECT = PYPROJECT["project"]
CONSTRAINTS = ROOT / ".ci" / "floor-constraints.txt"
# extras that are not run-time features: their bounds are not part of the floor
TOOL_EXTRAS = {"test", "docs", "lint", "release", "dev"}
DATA = {"cdnow_master.parquet", "cdnow_summary.parquet", "donations.parquet"}
CACHE = re.compile(r"(^|/)(__pycache__|\.pytest_cache|\.mypy_cache|\.ruff_cache|\.hypothesis)/")


def _hatchling_builder(kind: str) -> type:
    pytest.importorskip(
        "hatchling", reason='hatchling (the build backend) is not installed: "[release]" extra'
    )
    if kind == "wheel":
        from hatchling.builders.wheel import WheelBuilder

        return WheelBuilder
    from hatchling.builders.sdist import SdistBuilder

    return SdistBuilder


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    given = os.environ.get("LOYALTYMETRICS_WHEEL")
    if given:
        return Path(given)
    builder = _hatchling_builder("wheel")(str(ROOT))
    out = tmp_path_factory.mktemp("wheel")
    return Path(next(iter(builder.build(directory=str(out), versions=["standard"]))))


@pytest.fixture(scope="module")
def sdist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (ROOT / "src").is_dir():
        pytest.skip("no source tree to build an sdist from")
    builder = _hatchling_builder("sdist")(str(ROOT))
    out = tmp_path_factory.mktemp("sdist")
    return Path(next(iter(builder.build(directory=str(out), versions=["standard"]))))


def _wheel_names(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as zf:
        return zf.namelist()


def _metadata(wheel: Path) -> email.message.Message:
    with zipfile.ZipFile(wheel) as zf:
        (name,) = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
        return email.message_from_bytes(zf.read(name))


def test_wheel_holds_the_package_only(wheel: Path) -> None:
    names = _wheel_names(wheel)
    dist_info = f"loyaltymetrics-{PROJECT['version']}.dist-info/"
    strays = [n for n in names if not n.startswith(("loyaltymetrics/", dist_info))]
    assert strays == []
    for name in names:
        assert not CACHE.search(name), name
        assert not name.endswith((".pyc", ".pyo")), name
        assert "/tests/" not in f"/{name}", name
        assert "/benchmarks/" not in f"/{name}", name
        assert not name.startswith(("loyaltymetrics/test", "loyaltymetrics/bench")), name


def test_wheel_holds_the_data_the_types_and_every_module(wheel: Path) -> None:
    names = set(_wheel_names(wheel))
    assert {f"loyaltymetrics/data/{d}" for d in DATA} <= names
    assert "loyaltymetrics/py.typed" in names
    src = ROOT / "src"
    if src.is_dir():  # every module of the source tree is shipped
        modules = {p.relative_to(src).as_posix() for p in src.rglob("*.py")}
        assert modules == {n for n in names if n.endswith(".py")}


def test_wheel_metadata(wheel: Path) -> None:
    meta = _metadata(wheel)
    assert meta["Name"] == "loyaltymetrics"
    assert meta["Version"] == PROJECT["version"]
    assert meta["Requires-Python"] == ">=3.11"
    urls = dict(u.split(", ", 1) for u in meta.get_all("Project-URL") or [])
    assert {"Homepage", "Documentation", "Changelog", "Issues"} <= set(urls)
    assert all(u.startswith("https://") for u in urls.values())
    requires = [Requirement(r) for r in meta.get_all("Requires-Dist") or []]
    plain = {r.name: str(r.specifier) for r in requires if r.marker is None}
    assert plain == {"numpy": ">=1.26.0", "polars": ">=1.33.0", "scipy": ">=1.11.1"}
    classifiers = meta.get_all("Classifier") or []
    assert "Typing :: Typed" in classifiers
    # the only Python version CI runs (.ci/run: python3, both environments)
    assert [c for c in classifiers if re.fullmatch(r".*Python :: 3\.\d+", c)] == [
        "Programming Language :: Python :: 3.11"
    ]
    with zipfile.ZipFile(wheel) as zf:
        (name,) = [n for n in zf.namelist() if n.endswith(".dist-info/entry_points.txt")]
        assert "loyaltymetrics = loyaltymetrics.cli:main" in zf.read(name).decode()


def test_sdist_holds_the_tests_their_data_and_the_docs(sdist: Path) -> None:
    with tarfile.open(sdist) as tf:
        names = {n.split("/", 1)[1] for n in tf.getnames() if "/" in n}
    for name in names:
        assert not CACHE.search(name), name
        assert not name.endswith(".pyc"), name
    tests = {p.relative_to(ROOT).as_posix() for p in (ROOT / "tests").rglob("*") if p.is_file()}
    tests = {t for t in tests if not CACHE.search(t) and not t.endswith(".pyc")}
    assert tests <= names
    assert {"tests/conftest.py", "tests/data/donations.csv"} <= names
    assert {"pyproject.toml", "README.md", "LICENSE", "CHANGELOG.md", "docs/index.md"} <= names
    assert {f"src/loyaltymetrics/data/{d}" for d in DATA} <= names


def test_version_is_defined_once() -> None:
    import loyaltymetrics

    installed = importlib.metadata.version("loyaltymetrics")
    assert loyaltymetrics.__version__ == installed
    src = ROOT / "src"
    if src.is_dir():  # no second copy of the version string in the code
        hits = [p for p in src.rglob("*.py") if PROJECT["version"] in p.read_text("utf-8")]
        assert hits == []


def _lower_bounds() -> dict[str, str]:
    """Each run-time requirement's lower bound (the same wherever the name appears)."""
    requirements = list(PROJECT["dependencies"])
    for extra, reqs in PROJECT["optional-dependencies"].items():
        if extra not in TOOL_EXTRAS:
            requirements += reqs
    bounds: dict[str, str] = {}
    for text in requirements:
        req = Requirement(text)
        if req.name == "loyaltymetrics":
            continue
        (spec,) = [s for s in req.specifier if s.operator == ">="] or [None]
        assert spec is not None, f"{text!r} has no lower bound"
        assert bounds.setdefault(req.name, spec.version) == spec.version, text
    return bounds


def test_floor_constraints_pin_every_lower_bound() -> None:
    if not CONSTRAINTS.exists():
        pytest.skip(".ci/ is not in the sdist")
    pins: dict[str, str] = {}
    for line in CONSTRAINTS.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==")
            pins[name.strip()] = version.strip()
    bounds = _lower_bounds()
    assert set(pins) == set(bounds)
    assert {n: Version(v) for n, v in pins.items()} == {n: Version(v) for n, v in bounds.items()}
    assert {"numpy", "polars", "scipy", "narwhals", "duckdb", "pandas", "pyarrow"} <= set(pins)
    assert {"matplotlib", "click", "rich", "dask", "pyspark"} <= set(pins)
