"""Measurement helpers shared by the benchmark scripts (Linux /proc, standard library only)."""

from __future__ import annotations

import gc
import importlib.util
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

_TICK = os.sysconf("SC_CLK_TCK")


def rss_mb(key: str = "VmRSS") -> float:
    """A memory figure of this process from /proc/self/status, in MiB.

    ``VmRSS`` is the resident set size now, ``VmHWM`` its peak since the process started
    or since `reset_peak`.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    if key == "VmHWM":
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return float("nan")


def reset_peak() -> bool:
    """Reset this process's peak RSS (``VmHWM``) to its current RSS; False if impossible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


def machine_busy_s() -> float:
    """CPU seconds spent by the whole machine so far (user, nice, system, irq, softirq)."""
    try:
        with open("/proc/stat") as stat:
            fields = stat.readline().split()[1:8]
    except OSError:
        return float("nan")
    user, nice, system, _idle, _iowait, irq, softirq = (int(x) for x in fields)
    return (user + nice + system + irq + softirq) / _TICK


def versions(names: tuple[str, ...]) -> dict[str, str]:
    """Python's version and that of each named package that is installed."""
    out = {"python": platform.python_version()}
    for name in names:
        if importlib.util.find_spec(name) is not None:
            out[name] = str(__import__(name).__version__)
    return out


def run_worker(script: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Run ``script --worker <spec as JSON>`` in a new Python process; its last stdout line.

    The worker prints one JSON object as its last line. If the process fails, the result
    is ``{"check": "FAILED: <last line of stderr>"}``.
    """
    proc = subprocess.run(
        [sys.executable, script, "--worker", json.dumps(spec)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"]
        return {"check": "FAILED: " + lines[-1][:300]}
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def source_version() -> str:
    """The commit of the checkout the library is imported from, and whether src/ is edited."""
    from pathlib import Path

    import loyaltymetrics

    where = Path(loyaltymetrics.__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(where), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(where), "status", "--porcelain", "--", "."],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return f"loyaltymetrics {loyaltymetrics.__version__} (not a git checkout)"
    return f"loyaltymetrics {loyaltymetrics.__version__} at {commit}" + (
        " with uncommitted changes" if dirty else ""
    )


@dataclass
class Timing:
    """Wall and CPU seconds of each run, and how busy the rest of the machine was.

    `other_load` is, per run, the CPU seconds that other processes used per wall
    second: 0 on an otherwise idle machine, 1 when another process kept one core busy.
    `extra_rss_mb` is the growth of the peak RSS over the RSS before the first run.
    """

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    other_load: list[float] = field(default_factory=list)
    rss_before_mb: float = float("nan")
    rss_peak_mb: float = float("nan")

    @property
    def median(self) -> float:
        """Median wall seconds of the timed runs (nan if none ran)."""
        return statistics.median(self.wall) if self.wall else float("nan")

    @property
    def extra_rss_mb(self) -> float:
        """Peak RSS during the runs minus the RSS before them."""
        return self.rss_peak_mb - self.rss_before_mb

    def as_dict(self) -> dict[str, Any]:
        """The raw figures, for JSON."""
        return {
            "wall": self.wall,
            "cpu": self.cpu,
            "other_load": self.other_load,
            "rss_before_mb": self.rss_before_mb,
            "rss_peak_mb": self.rss_peak_mb,
            "median_s": self.median,
            "extra_rss_mb": self.extra_rss_mb,
        }


def time_runs(
    call: Callable[[], Any],
    repeats: int,
    *,
    warmup: bool,
    check: Callable[[Any], bool] | None = None,
) -> tuple[Any, Timing]:
    """Time `repeats` runs of `call`; return the result of the first run and the timings.

    The memory figures are those of the first run: the RSS just before it, and the peak
    RSS during it (reset before it through /proc/self/clear_refs). The first result is
    passed to `check`; if that returns False, nothing more is run. With `warmup`, the
    first run is not one of the timed runs.
    """
    timing = Timing()
    gc.collect()
    timing.rss_before_mb = rss_mb("VmRSS")
    if not reset_peak():
        timing.rss_before_mb = float("nan")  # ru_maxrss is a lifetime peak: no delta
    first = _timed(call, timing)
    timing.rss_peak_mb = rss_mb("VmHWM")
    if check is not None and not check(first):
        timing.wall.clear()
        timing.cpu.clear()
        timing.other_load.clear()
        return first, timing
    if warmup:
        timing.wall.clear()
        timing.cpu.clear()
        timing.other_load.clear()
    while len(timing.wall) < repeats:
        gc.collect()
        _timed(call, timing)
    return first, timing


def _timed(call: Callable[[], Any], timing: Timing) -> Any:
    busy0, cpu0, wall0 = machine_busy_s(), time.process_time(), time.perf_counter()
    value = call()
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    other = machine_busy_s() - busy0 - cpu
    timing.wall.append(wall)
    timing.cpu.append(cpu)
    timing.other_load.append(max(other, 0.0) / wall if wall > 0 else 0.0)
    return value
