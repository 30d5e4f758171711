r"""Prediction intervals of each customer's purchases: `predict` and `predict_total`.

The prediction mixins (`BetaGeoPrediction`, `ModifiedBetaGeoPrediction`,
`ParetoPrediction`, `BetaGeoBetaBinomPrediction`) build on `ParameterUncertainty`
(`_uncertainty`); see that module for the design notes: draws streamed in chunks, no
customers x draws matrix, closed-form conditional distributions averaged over the
parameter draws, and Pareto/NBD's residual lifetime drawn.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import polars as pl
from scipy import special as sc

from loyaltymetrics import _validation as v
from loyaltymetrics._typing import FloatArray

from . import _base as b
from ._uncertainty import ParameterUncertainty, check_draws, check_level, check_seed

if TYPE_CHECKING:
    from loyaltymetrics.stats import Interval


# ---------------------------------------------------------------------------------------
# 3. Prediction intervals of each customer's purchases
# ---------------------------------------------------------------------------------------

_DRAW_CHUNK = 16
"""Parameter draws evaluated together (a draws x customers block; bounds the memory)."""
_BLOCK = 1024
"""Customers per block: a temporary is 16 x 1024 doubles (128 KiB) and stays in the
core's cache. CPU seconds for 200,000 customers x 100 draws on the project machine:
1.26 with 8 x 8192 blocks, 1.09 with 8 x 2048, 0.99 with 16 x 1024 (and 4.6 before the
in-place recursion with 16 x 65,536 blocks)."""
_FREQUENCY_BLOCK = 1024
_FREQUENCY_DRAW_CHUNK = 32
"""Customers per block of one frequency (`_blocks` with `by_frequency`) and draws per
chunk there. `_mixture_bounds` at 1M customers x 200 draws, CPU s (median of 3 rounds,
each run one process, interleaved; loaded machine): run 1: 1024 x 16 4.18, 2048 x 16
3.87, 4096 x 16 3.72, 1024 x 32 3.51, 2048 x 32 3.69; run 2: 1024 x 32 3.63, 1024 x 64
3.51, 512 x 64 3.62, 2048 x 64 4.06, 512 x 32 3.96. These kernels draw no
uniforms, so a longer chunk costs no memory (Pareto/NBD's uniforms stay at
`_DRAW_CHUNK` rows of all customers)."""
_WINDOW_PART = 16_384
"""Customers per part of `_window_start` (one draw: 128 KiB per temporary)."""
_THREADS = 8
"""Upper bound on the worker threads of `_mixture_bounds` (one per core)."""
_EPS = 1e-12
"""Slack in comparing a cumulative probability with a quantile level (rounding)."""

# A survival kernel: (parameter draws (D, k), customer data, t, y_max, uniforms or None)
# -> sum over the draws of P(Y > y | theta_d, history) for y = 0..y_max, shape (y_max+1, n).
Kernel = Callable[
    [
        FloatArray,
        tuple[FloatArray, FloatArray, FloatArray],
        FloatArray,
        int,
        "FloatArray | None",
        bool,
    ],
    FloatArray,
]
"""With the last argument (`reduce`) False: per draw, shape (y_max+1, draws, n)."""


def _nbd_survival(
    shape: FloatArray,
    ratio: FloatArray,
    weight: FloatArray,
    dropout: tuple[FloatArray, FloatArray] | None,
    y_max: int,
    reduce: bool = True,
) -> FloatArray:
    r"""$\sum_d w_d\,c_y\,P(N > y)$ for $y = 0..y_{max}$, $N \sim \mathrm{NB}$, summed over axis 0.

    $N$ is the gamma-Poisson count with shape `shape` = $r'$ and
    $P(N = 0) = (1 + \text{ratio})^{-r'}$, ratio = $t/\alpha'$, by the recursion
    $P(N = j) = P(N = j - 1)\frac{r' + j - 1}{j}\frac{t}{\alpha' + t}$ (no special
    function). `dropout` = $(a, b')$ multiplies by $c_y = B(a, b' + y)/B(a, b')$ =
    $E[(1 - p)^y]$, $p \sim \mathrm{Beta}(a, b')$: the chance of not dropping out after
    the first $y$ purchases (BG/NBD-type dropout). All arrays are (draws, customers);
    the loop works in place (measured: 2x faster than fresh temporaries).
    """
    shape, ratio, weight = np.broadcast_arrays(shape, ratio, weight)
    log_q0 = np.log1p(ratio)
    log_q0 *= -shape
    nb = np.exp(log_q0)
    tail = 1.0 - nb  # P(N >= 1); absolute error 1e-16 is all a quantile needs
    z = ratio / (1.0 + ratio)
    out = np.empty((y_max + 1, shape.shape[-1]) if reduce else (y_max + 1, *shape.shape))
    out[0] = np.einsum("ij,ij->j", weight, tail) if reduce else weight * tail
    if y_max == 0:
        return out
    grow = shape.copy()  # r' + y - 1
    pc = weight.copy()
    if dropout is not None:
        a, bp = dropout
        num = np.array(np.broadcast_to(bp, shape.shape), dtype=np.float64)  # b' + y - 1
        den = num + a
        step = np.empty_like(num)
    for y in range(1, y_max + 1):
        nb *= grow
        nb *= z
        if y > 1:
            nb *= 1.0 / y
        grow += 1.0
        tail -= nb
        if dropout is not None:
            np.divide(num, den, out=step)
            pc *= step
            num += 1.0
            den += 1.0
        out[y] = np.einsum("ij,ij->j", pc, tail) if reduce else pc * tail
    return out


def _bg_block(
    draws: FloatArray,
    x0: float,
    t_x: FloatArray,
    big_t: FloatArray,
    t: FloatArray,
    y_max: int,
    modified: bool,
    reduce: bool = True,
) -> FloatArray:
    r"""BG/NBD-type $\sum_d P(Y > y \mid \theta_d)$, $y = 0..y_{max}$, customers of one $x$.

    The formula of `_nbd_survival` (with `_bg_kernel`'s P(alive) as the weight), arranged
    for a block whose customers all made `x0` repeat purchases: then the NBD shape
    $r + x$, the dropout factor $c_y = \prod_{j=1}^{y}\frac{b' + j - 1}{a + b' + j - 1}$
    and the ratio $f_y = (r + x + y - 1)/y$ of the NBD recursion depend on the draw only,
    so they are (draws, y) tables, and the weight can be carried inside the recursion:

    $$S(y) = \sum_d c_{d,y}\Big(w_d - \sum_{j \le y} w_d\,P(N_d = j)\Big),\quad
      w_d P(N_d = j) = w_d P(N_d = j - 1)\,f_{d,j}\,z_d,$$

    $z = t/(\alpha + T + t)$, $P(N = 0) = ((\alpha + T)/(\alpha + T + t))^{r + x}$,
    $w$ = P(alive) (1 for a BG/NBD customer without repeat purchases). Per $y$ this
    is four passes over a (draws, customers) array where `_nbd_survival` needs eleven.
    Only the rounding differs from `_nbd_survival` (tested on random inputs).

    Measured on the project machine, 16 draws x 1024 customers, CPU microseconds per call
    (old `_nbd_survival` path -> this): x = 0, y_max = 5: 434 -> 230; x = 2, y_max = 5:
    615 -> 335; setup alone 88 (x = 0) and 187 (x > 0). Rejected: one matrix product
    $S = A X$ over the stack $X_j = w P(N = j)/K_j$ (one pass per $y$ instead of four):
    numpy's matmul is BLAS, whose own threads fight the block threads (8 ms instead of
    0.3 ms per call at y_max = 8), and without BLAS (einsum) its $O(y_{max}^2)$ work lost
    from y_max = 3 on.
    """
    r, alpha, a, bb = (draws[:, j : j + 1] for j in range(4))
    rx = r + x0
    u = alpha + big_t  # alpha + T, (draws, customers)
    s = u + t
    z = np.divide(t, s)
    nb = np.divide(u, s, out=s)  # P(N = 0) = (1 - z)^(r + x)
    np.log(nb, out=nb)
    nb *= rx
    np.exp(nb, out=nb)
    if modified or x0 > 0:
        # P(alive) = 1 / (1 + a/b'' ((alpha + T)/(alpha + t_x))^(r + x)), as `_bg_kernel`
        odds = np.add(alpha, t_x)
        np.divide(u, odds, out=odds)
        np.log(odds, out=odds)
        odds *= rx
        with np.errstate(over="ignore"):
            np.exp(odds, out=odds)
        odds *= a / (bb + (x0 if modified else x0 - 1.0))
        odds += 1.0
        acc = np.divide(1.0, odds, out=odds)  # w, then w P(N > y)
        nb *= acc
        acc -= nb
        bp = bb + x0 + (1.0 if modified else 0.0)
    else:
        acc = np.subtract(1.0, nb, out=u)
        bp = bb + x0
    j = np.arange(1.0, y_max + 1.0)
    grow = (rx + (j - 1.0)) / j  # f_{d,y}, (draws, y_max)
    drop = np.cumprod((bp + (j - 1.0)) / (a + bp + (j - 1.0)), axis=1)  # c_{d,y}, y >= 1
    if not reduce:  # per draw (`predict_total`): c_y w P(N > y), (y_max + 1, draws, n)
        each = np.empty((y_max + 1, *acc.shape))
        each[0] = acc
        for y in range(1, y_max + 1):
            nb *= z
            nb *= grow[:, y - 1 : y]
            acc -= nb
            np.multiply(acc, drop[:, y - 1 : y], out=each[y])
        return each
    out = np.empty((y_max + 1, big_t.size))
    acc.sum(axis=0, out=out[0])
    for y in range(1, y_max + 1):
        nb *= z
        nb *= grow[:, y - 1 : y]
        acc -= nb
        # einsum, not `@`: a BLAS gemv starts its own threads (see above)
        np.einsum("i,ij->j", drop[:, y - 1], acc, out=out[y])
    return out


def _bg_kernel(modified: bool) -> Kernel:
    def kernel(
        draws: FloatArray,
        data: tuple[FloatArray, FloatArray, FloatArray],
        t: FloatArray,
        y_max: int,
        uniforms: FloatArray | None,
        reduce: bool = True,
    ) -> FloatArray:
        x, t_x, big_t = data
        if x.size and bool(np.all(x == x[0])):
            # one frequency in the block (`_mixture_bounds` groups by it): the fast path
            return _bg_block(draws, float(x[0]), t_x, big_t, t, y_max, modified, reduce)
        r, alpha, a, bb = (draws[:, j : j + 1] for j in range(4))
        rx = r + x
        at = alpha + big_t
        # P(alive) = 1 / (1 + a/(b') ((alpha + T)/(alpha + t_x))^(r + x)), b' = b + x - 1
        # (BG/NBD, x > 0) or b + x (MBG/NBD): one log and one exp per pair (overflow to
        # inf gives P(alive) = 0, the right limit)
        if not modified and not bool(np.any(x > 0)):
            # a block of BG/NBD customers without repeat purchases: alive for sure (the
            # general path, for blocks of several frequencies; `predict` and
            # `predict_total` give these kernels blocks of one, above)
            ones = np.ones((draws.shape[0], x.size))
            return _nbd_survival(rx, t / at, ones, (a, bb + x), y_max, reduce)
        odds = np.divide(at, alpha + t_x)
        np.log(odds, out=odds)
        odds *= rx
        with np.errstate(over="ignore"):
            np.exp(odds, out=odds)
        if modified:
            odds *= a / (bb + x)
            palive = 1.0 / (1.0 + odds)
            bp = bb + x + 1.0
        else:
            odds *= a / (bb + np.where(x > 0, x - 1.0, 1.0))
            palive = np.where(x > 0, 1.0 / (1.0 + odds), 1.0)
            bp = bb + x
        return _nbd_survival(rx, t / at, palive, (a, bp), y_max, reduce)

    return kernel


def _pareto_kernel(model_cls: Any) -> Kernel:
    def kernel(
        draws: FloatArray,
        data: tuple[FloatArray, FloatArray, FloatArray],
        t: FloatArray,
        y_max: int,
        uniforms: FloatArray | None,
        reduce: bool = True,
    ) -> FloatArray:
        assert uniforms is not None
        x, t_x, big_t = data
        out = np.zeros((y_max + 1, x.size) if reduce else (y_max + 1, draws.shape[0], x.size))
        for d in range(draws.shape[0]):
            r, alpha, s, beta = draws[d]
            model = model_cls.from_params(r=r, alpha=alpha, s=s, beta=beta)
            palive = model._p_alive(x, t_x, big_t)
            # residual lifetime of an alive customer: Lomax, P(tau > u) = (1 + u/(beta+T))^-s
            life = (beta + big_t) * np.expm1(-np.log(uniforms[d]) / s)
            exposure = np.minimum(life, t)
            one = _nbd_survival(
                (r + x)[None, :],
                (exposure / (alpha + big_t))[None, :],
                palive[None, :],
                None,
                y_max,
            )
            if reduce:
                out += one
            else:
                out[:, d] = one
        return out

    return kernel


def _bgbb_survival_one(
    params: FloatArray, x: FloatArray, t_x: FloatArray, n: FloatArray, t: int, loglik: Any
) -> FloatArray:
    r"""BG/BB: $P(Y > y)$, $y = 0..t$, for one parameter vector (exact).

    Alive at opportunity $n$ with probability
    $\frac{B(\alpha + x, \beta + n - x)}{B(\alpha, \beta)}\frac{B(\gamma, \delta + n)}
    {B(\gamma, \delta)} / L$ (the first term of the likelihood, FHS 2010 eq. 5); then
    $\theta \sim \mathrm{Beta}(\gamma, \delta + n)$ and
    $p \sim \mathrm{Beta}(\alpha + x, \beta + n - x)$. The number $L'$ of future
    opportunities alive has $P(L' \ge l) = B(\gamma, \delta + n + l)/B(\gamma, \delta + n)$,
    and given $L' = l$ the count is beta-binomial$(l, \alpha + x, \beta + n - x)$.
    """
    al, be, ga, de = (float(q) for q in params)
    ll, _ = loglik(np.asarray(params), x, t_x, n)
    log_alive = (
        sc.betaln(al + x, be + n - x)
        - sc.betaln(al, be)
        + sc.betaln(ga, de + n)
        - sc.betaln(ga, de)
    )
    alive = np.exp(log_alive - ll)
    big_a, big_b = al + x, be + n - x
    surv_l = [np.ones_like(x)]
    for l_ in range(1, t + 1):
        surv_l.append(surv_l[-1] * (de + n + l_ - 1) / (ga + de + n + l_ - 1))
    surv_l.append(np.zeros_like(x))
    pmf = np.zeros((t + 1, x.size))
    for l_ in range(t + 1):
        p_l = surv_l[l_] - surv_l[l_ + 1]
        ys = np.arange(l_ + 1)[:, None]
        log_bb = (
            sc.gammaln(l_ + 1)
            - sc.gammaln(ys + 1)
            - sc.gammaln(l_ - ys + 1)
            + sc.betaln(big_a + ys, big_b + l_ - ys)
            - sc.betaln(big_a, big_b)
        )
        pmf[: l_ + 1] += p_l * np.exp(log_bb)
    surv = alive * np.clip(1.0 - np.cumsum(pmf, axis=0), 0.0, None)
    surv[t] = 0.0  # at most t transactions in t opportunities (exactly, not 1 - sum)
    return np.asarray(surv, dtype=np.float64)


def _bgbb_kernel(
    draws: FloatArray,
    data: tuple[FloatArray, FloatArray, FloatArray],
    t: FloatArray,
    y_max: int,
    uniforms: FloatArray | None,
    reduce: bool = True,
) -> FloatArray:
    from ._bg_bb import _loglik

    x, t_x, n = data
    steps = int(t.flat[0])
    out = np.zeros((y_max + 1, x.size) if reduce else (y_max + 1, draws.shape[0], x.size))
    for d in range(draws.shape[0]):
        surv = _bgbb_survival_one(draws[d], x, t_x, n, steps, _loglik)
        if reduce:
            out[: min(y_max, steps) + 1] += surv[: y_max + 1]
        else:
            out[: min(y_max, steps) + 1, d] = surv[: y_max + 1]
    return out


def _quantile_index(cdf: FloatArray, q: float) -> FloatArray:
    """Smallest y with cdf[y] >= q (per column); cdf.shape[0] if none."""
    below = cdf < q - _EPS
    return np.asarray(below.sum(axis=0), dtype=np.float64) if below.size else np.zeros(0)


def _accumulate(
    kernel: Kernel,
    draws: FloatArray,
    groups: list[tuple[np.ndarray[Any, np.dtype[np.intp]], int]],
    parts: list[tuple[FloatArray, ...]],
    horizons: list[FloatArray],
    totals: list[FloatArray],
    rng: np.random.Generator | None,
    n: int,
    draw_chunk: int,
) -> None:
    """Add every draw's survival sums to each block's accumulator, blocks in threads.

    Each block has its own accumulator, so no two threads write one array; numpy's ufuncs
    release the GIL, so the blocks run on every core.
    """
    workers = min(os.cpu_count() or 1, _THREADS) if len(groups) > 1 else 1
    with ThreadPoolExecutor(workers) as pool:
        for c0 in range(0, draws.shape[0], draw_chunk):
            chunk = draws[c0 : c0 + draw_chunk]
            full = None if rng is None else rng.random((chunk.shape[0], n))

            def run(g: int, chunk: FloatArray = chunk, full: Any = full) -> None:
                sub, w_ = groups[g]
                uni = None if full is None else full[:, sub]
                totals[g] += kernel(chunk, parts[g], horizons[g], w_, uni, True)  # type: ignore[arg-type]

            list(pool.map(run, range(len(groups))))


def _blocks(
    todo: np.ndarray[Any, np.dtype[np.intp]],
    window: np.ndarray[Any, np.dtype[np.int64]],
    x: FloatArray,
    by_frequency: bool,
) -> list[tuple[np.ndarray[Any, np.dtype[np.intp]], int]]:
    """Blocks of customers of `todo`, each with its window $y_{max}$.

    By default blocks of at most `_BLOCK` customers, one window per group of blocks,
    customers without repeat purchases first (whole blocks of them take the kernels'
    no-repeat path). With `by_frequency` (the BG/NBD-type kernels, whose fast path
    `_bg_block` needs one frequency per block) the customers are sorted by frequency,
    then window; blocks of at most `_FREQUENCY_BLOCK` do not cross a frequency, and a
    block's window is the largest of its customers' (a longer window changes no
    quantile, and the sort keeps the windows of a block close: at 1M customers the
    blocks evaluate 9 % more y values than the customers' own windows). The result does
    not depend on the blocks.
    """
    groups: list[tuple[np.ndarray[Any, np.dtype[np.intp]], int]] = []
    if by_frequency:
        order = todo[np.lexsort((window[todo], x[todo]))]
        cuts = np.flatnonzero(np.diff(x[order])) + 1
        for run in np.split(order, cuts):
            for start in range(0, run.size, _FREQUENCY_BLOCK):
                sub = run[start : start + _FREQUENCY_BLOCK]
                groups.append((sub, int(window[sub[-1]])))
        return groups
    for w_ in np.unique(window[todo]):
        idx = todo[window[todo] == w_]
        idx = idx[np.argsort(x[idx] > 0, kind="stable")]
        for start in range(0, idx.size, _BLOCK):
            groups.append((idx[start : start + _BLOCK], int(w_)))
    return groups


def _mixture_bounds(
    kernel: Kernel,
    draws: FloatArray,
    data: tuple[FloatArray, FloatArray, FloatArray],
    t: FloatArray,
    quantiles: tuple[float, float],
    y_start: FloatArray,
    y_cap: int | None,
    seed_seq: np.random.SeedSequence | None,
    by_frequency: bool = False,
) -> tuple[FloatArray, FloatArray]:
    r"""Lower and upper quantiles of each customer's mixture $\frac1D\sum_d P(Y \le y\mid\theta_d)$.

    Customers are grouped by a window $y_{max}$ (`y_start`, rounded up) and cut into
    blocks of `_BLOCK`; the draws are streamed in chunks of `_DRAW_CHUNK` (outer loop)
    and each block keeps only its running sums at $y = 0..y_{max}$. The uniforms of a
    Monte Carlo kernel are one row of `n` per draw, generated in draw order,
    so they do not depend on the grouping. Customers whose upper quantile lies beyond
    their window are redone with a window twice as long (same draws, same uniforms).
    With `by_frequency` the blocks are cut by frequency instead (see `_blocks`).
    """
    n = data[0].size
    n_draws = draws.shape[0]
    low = np.full(n, np.nan)
    high = np.full(n, np.nan)
    window = np.maximum(1, np.ceil(y_start)).astype(np.int64)
    if y_cap is not None:
        window = np.minimum(window, max(y_cap, 1))
    todo = np.arange(n)
    while todo.size:
        groups = _blocks(todo, window, data[0], by_frequency)
        parts = [tuple(arr[sub] for arr in data) for sub, _ in groups]
        horizons = [t[sub] if t.size > 1 else t for sub, _ in groups]
        totals = [np.zeros((w_ + 1, sub.size)) for sub, w_ in groups]
        rng = None if seed_seq is None else np.random.default_rng(seed_seq)
        chunk = _FREQUENCY_DRAW_CHUNK if by_frequency else _DRAW_CHUNK
        _accumulate(kernel, draws, groups, parts, horizons, totals, rng, n, chunk)
        redo = []
        for (sub, w_), total in zip(groups, totals, strict=True):
            cdf = 1.0 - total / n_draws
            low[sub] = _quantile_index(cdf, quantiles[0])
            high[sub] = _quantile_index(cdf, quantiles[1])
            beyond = high[sub] > w_
            if beyond.any() and (y_cap is None or w_ < y_cap):
                redo.append(sub[beyond])
        todo = np.concatenate(redo) if redo else np.zeros(0, dtype=np.int64)
        if todo.size:
            window[todo] *= 2
            if y_cap is not None:
                window[todo] = np.minimum(window[todo], y_cap)
    return low, high


def _distinct(
    x: FloatArray, t_x: FloatArray, big_t: FloatArray, tt: FloatArray
) -> tuple[np.ndarray[Any, np.dtype[np.intp]] | None, np.ndarray[Any, np.dtype[np.intp]] | None]:
    """One customer per distinct (x, t_x, T[, t]) and each customer's row among them.

    ``(None, None)`` when every customer is distinct (no copy then). Real summaries
    repeat histories: CDNOW's 2,357 customers have 1,016 distinct ones (time in whole
    days), and with T on a day grid every customer without repeat purchases who joined
    on one day has one history. Cost at 1M distinct customers (CPU s, measured): 0.01 when
    the T are distinct too (one sort of T tells), else a lexsort, 0.2, against about
    5 for `predict`.
    """
    keys = (big_t, t_x, x) if tt.size == 1 else (tt, big_t, t_x, x)
    if x.size < 2:
        return None, None
    ordered = np.sort(big_t)
    if bool(np.all(ordered[1:] != ordered[:-1])):
        return None, None  # every T differs (T measured continuously): all distinct
    order = np.lexsort(keys)
    new = np.zeros(x.size, dtype=bool)
    new[0] = True
    for key in keys:
        ordered = key[order]
        new[1:] |= ordered[1:] != ordered[:-1]
    if new.all():
        return None, None
    group = np.cumsum(new) - 1
    inverse = np.empty(x.size, dtype=np.intp)
    inverse[order] = group
    return order[new], inverse


def _nbd_quantile(shape: FloatArray, ratio: FloatArray, q: float) -> FloatArray:
    """Smallest y with P(N <= y) >= q for the gamma-Poisson N (a bound on the window)."""
    log_q0 = -shape * np.log1p(ratio)
    nb = np.exp(log_q0)
    cdf = nb.copy()
    z = ratio / (1.0 + ratio)
    out = np.zeros(shape.size)
    active = np.flatnonzero(cdf < q)
    y = 0
    while active.size:
        y += 1
        nb[active] = nb[active] * (shape[active] + (y - 1)) / y * z[active]
        cdf[active] += nb[active]
        out[active] = y
        active = active[cdf[active] < q]
        if y > 1_000_000:  # pragma: no cover - a count beyond any real purchase history
            break
    return out


class _Prediction(ParameterUncertainty):
    """Shared `predict` / `predict_total` of the transaction models (see the subclasses)."""

    __slots__ = ()

    _KERNEL_NAME: ClassVar[str] = ""
    _FREQUENCY_BLOCKS: ClassVar[bool] = False
    """Cut `predict`'s blocks by frequency (the kernel has a one-frequency fast path)."""
    _WINDOW_TRIM: ClassVar[float] = 0.0
    """Taken off `_window_start` (1 + the point estimates' quantile) for `predict`'s first
    window. 1 for the closed-form BG/NBD-type kernels: at 1M simulated customers and 200
    draws the mixture's upper quantile equalled the point estimates' for 99.98 % of the
    customers (51 were one higher and redone with twice the window), so the last y of
    every window was never needed; measured 4.3 -> 4.2 and 6.6 -> 4.3 CPU s for
    `_mixture_bounds` (same process, interleaved, same bounds)."""

    def _validate(self, t: Any, frequency: Any, recency: Any, T: Any) -> tuple[Any, ...]:
        x, t_x, big_t = b.check_rfm(frequency, recency, T)
        tt = np.atleast_1d(np.asarray(v.as_real(t, "t"), dtype=np.float64))
        v.check_nonnegative(tt, "t")
        if tt.ndim != 1 or tt.size not in (1, x.size):
            raise ValueError(
                f"t must be one number or one per customer; got {tt.size} values for "
                f"{x.size} customers"
            )
        return x, t_x, big_t, tt

    def _kernel(self) -> Kernel:
        raise NotImplementedError

    def _y_cap(self, tt: FloatArray) -> int | None:
        return None

    def _uses_uniforms(self) -> bool:
        return False

    def _p_alive_interval(
        self, x: FloatArray, t_x: FloatArray, big_t: FloatArray, level: float
    ) -> tuple[FloatArray, FloatArray]:
        r"""Delta-method interval of logit P(alive) from the log-parameter covariance."""
        cov = self._require_covariance("the P(alive) interval")
        p = self._estimates()
        k = p.size
        h = 1e-4
        grads = np.empty((k, x.size))
        cls: Any = type(self)
        name = f"{cls.__name__}.p_alive"

        def logit_alive(j: int, sign: float) -> FloatArray:
            q = p.copy()
            q[j] *= math.exp(sign * h)
            m = cls.from_params(**dict(zip(self.PARAM_NAMES, q.tolist(), strict=True)))
            # the inputs are validated once (`_validate`): the private `_p_alive` with the
            # public method's output check gives the same numbers without 2k revalidations
            # of the data (1M customers, one thread, same process: 0.59-0.98 CPU s for
            # this method before, 0.46-0.70 after)
            if hasattr(m, "_p_alive"):
                alive = b.check_output(m._p_alive(x, t_x, big_t), name, m, True, False)
            else:
                alive = m.p_alive(x, t_x, big_t)
            return np.asarray(sc.logit(np.clip(alive, 1e-300, 1 - 1e-16)), dtype=np.float64)

        def gradient(j: int) -> None:
            grads[j] = (logit_alive(j, 1.0) - logit_alive(j, -1.0)) / (2.0 * h)

        # one parameter per task, in threads (numpy releases the GIL on these long arrays)
        workers = min(os.cpu_count() or 1, _THREADS) if x.size >= 4 * _BLOCK else 1
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(gradient, range(k)))
        se = np.sqrt(np.maximum(np.einsum("in,ij,jn->n", grads, cov, grads), 0.0))
        zq = float(sc.ndtri((1.0 + level) / 2.0))
        alive = np.asarray(self.p_alive(x, t_x, big_t), dtype=np.float64)  # type: ignore[attr-defined]
        centre = sc.logit(alive)
        sure = (alive == 0.0) | (alive == 1.0)  # no uncertainty at a certain 0 or 1
        with np.errstate(invalid="ignore"):
            low = np.where(sure, alive, sc.expit(centre - zq * se))
            high = np.where(sure, alive, sc.expit(centre + zq * se))
        return np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)

    def predict(
        self,
        t: Any,
        frequency: Any,
        recency: Any,
        T: Any,
        *,
        level: float = 0.95,
        n_draws: int = 1000,
        seed: int | None = None,
        parameter_uncertainty: bool = True,
    ) -> pl.DataFrame:
        r"""Expected purchases in $(T, T + t]$ with a *prediction* interval, and P(alive).

        The prediction interval is for the number of purchases $Y$ a customer will make
        in the next `t` (what will happen), from that customer's conditional distribution
        of $Y$ given their history (see the class's notes for the model's form). With
        `parameter_uncertainty`, `n_draws` parameter vectors are drawn from the asymptotic
        normal of the log parameters (`covariance`) and the conditional distributions are
        averaged over them: the interval then carries both the process and the estimation
        uncertainty.

        **Quantile rule.** With $F$ the (mixture) CDF of $Y$ and $q = (1 - \ell)/2$,
        ``purchases_low`` $= \min\{y : F(y) \ge q\}$ and ``purchases_high``
        $= \min\{y : F(y) \ge 1 - q\}$. Each tail outside $[\text{low}, \text{high}]$ then
        holds at most $q$, so the interval covers $Y$ with probability at least $\ell$;
        a count is discrete, so the coverage is usually above $\ell$ (conservative).

        `p_alive_low`, `p_alive_high` are a *confidence* interval of P(alive) from the
        parameter uncertainty: $\mathrm{logit}\,\hat P \pm z\,\mathrm{SE}$ with the
        delta-method standard error (central differences on the log-parameter scale),
        mapped back into (0, 1); it is ``[p_alive, p_alive]`` when
        `parameter_uncertainty` is False.

        Memory stays flat in `n_draws` (the draws are streamed); the result depends only
        on `seed`, not on the number of customers processed together.

        Parameters
        ----------
        t : float or array-like
            Length of the future period, ≥ 0, in the model's time unit (opportunities for
            BG/BB, whole); one value or one per customer.
        frequency, recency, T : array-like
            The customers' history, as in `fit`.
        level : float, default=0.95
            Prediction level of the purchases interval and confidence level of the
            P(alive) interval, in (0, 1).
        n_draws : int, default=1000
            Parameter draws (and, for Pareto/NBD, draws of the residual lifetime).
        seed : int, optional
            Seed of the random draws; the same seed gives the same table.
        parameter_uncertainty : bool, default=True
            Draw the parameters; False uses the point estimates only (process
            uncertainty alone; needed for a model built by `from_params`).

        Returns
        -------
        polars.DataFrame
            One row per customer, in input order: `expected_purchases` (the point value
            of `expected_purchases`), `purchases_low`, `purchases_high` (whole numbers,
            Float64), `p_alive` (the point value of `p_alive`), `p_alive_low`,
            `p_alive_high`.

        Raises
        ------
        ValueError
            For invalid inputs, or `parameter_uncertainty` on a model without covariance.

        Examples
        --------
        >>> from loyaltymetrics import datasets, models
        >>> c = datasets.load_cdnow_summary()
        >>> m = models.BetaGeoModel.fit(c["frequency"], c["recency"], c["T"])
        >>> p = m.predict(39.0, c["frequency"], c["recency"], c["T"], n_draws=200, seed=1)
        >>> [round(v, 3) for v in p.row(0)]
        [1.226, 0.0, 5.0, 0.727, 0.694, 0.757]
        """
        x, t_x, big_t, tt = self._validate(t, frequency, recency, T)
        lv = check_level(level)
        draws_n = check_draws(n_draws)
        sd = check_seed(seed)
        v.check_bool(parameter_uncertainty, "parameter_uncertainty")
        param_seq, uni_seq = np.random.SeedSequence(sd).spawn(2)
        if parameter_uncertainty:
            draws = self._param_draws(draws_n, np.random.default_rng(param_seq))
        else:
            draws = np.tile(self._estimates(), (draws_n, 1))
            if not self._uses_uniforms():
                draws = draws[:1]  # every draw is the same: one pass is exact
        expected = self.expected_purchases(tt if tt.size > 1 else tt[0], x, t_x, big_t)  # type: ignore[attr-defined]
        alive = self.p_alive(x, t_x, big_t)  # type: ignore[attr-defined]
        q = (1.0 - lv) / 2.0
        y_cap = self._y_cap(tt)
        # customers with one history (and horizon) have one answer: a closed-form kernel
        # computes it once (Monte Carlo kernels draw per customer, so they keep them all)
        rep, inverse = (None, None) if self._uses_uniforms() else _distinct(x, t_x, big_t, tt)
        ux, ut_x, ubig_t, utt = (
            (x, t_x, big_t, tt)
            if rep is None
            else (x[rep], t_x[rep], big_t[rep], tt[rep] if tt.size > 1 else tt)
        )
        start = self._window_start(ux, ut_x, ubig_t, utt, 1.0 - q) - self._WINDOW_TRIM
        low, high = _mixture_bounds(
            self._kernel(),
            draws,
            (ux, ut_x, ubig_t),
            utt,
            (q, 1.0 - q),
            start,
            y_cap,
            uni_seq if self._uses_uniforms() else None,
            by_frequency=self._FREQUENCY_BLOCKS,
        )
        if parameter_uncertainty:
            a_low, a_high = self._p_alive_interval(ux, ut_x, ubig_t, lv)
        else:
            a_low, a_high = alive.copy(), alive.copy()
        if inverse is not None:
            low, high = low[inverse], high[inverse]
            if parameter_uncertainty:
                a_low, a_high = a_low[inverse], a_high[inverse]
        return pl.DataFrame(
            {
                "expected_purchases": np.asarray(expected, dtype=np.float64),
                "purchases_low": low,
                "purchases_high": high,
                "p_alive": np.asarray(alive, dtype=np.float64),
                "p_alive_low": a_low,
                "p_alive_high": a_high,
            }
        )

    def _window_start(
        self, x: FloatArray, t_x: FloatArray, big_t: FloatArray, tt: FloatArray, q: float
    ) -> FloatArray:
        """A first window: 1 + the level-`q` quantile at the point estimates.

        Closed-form kernels use the conditional distribution itself (widened later where
        the parameter draws need more); the Monte Carlo one the count without dropout,
        NBD(r + x, alpha + T) over t, which bounds it.
        """
        if self._uses_uniforms():
            ratio = np.broadcast_to(tt / (self.params["alpha"] + big_t), x.shape)
            return _nbd_quantile(self.params["r"] + x, np.ascontiguousarray(ratio), q) + 1.0
        theta = self._estimates()[None, :]
        kernel = self._kernel()
        out = np.zeros(x.size)
        cap = self._y_cap(tt)

        def run(part: np.ndarray[Any, np.dtype[np.intp]]) -> None:
            active = part
            y_max = 4
            while active.size:
                t_sub = tt[active] if tt.size > 1 else tt
                data = (x[active], t_x[active], big_t[active])
                surv = kernel(theta, data, t_sub, y_max, None, True)
                below = (1.0 - surv) < q
                out[active] = below.sum(axis=0)
                if cap is not None and y_max >= cap:
                    break
                active = active[below[-1]]
                y_max *= 4

        # parts of `_WINDOW_PART` customers (of one frequency for the BG/NBD-type kernels,
        # whose fast path needs it), in threads: measured at 1M BG/NBD customers, 0.25-0.45
        # CPU s for the whole arrays at once (the general kernel, arrays beyond the
        # caches), 0.21-0.23 in parts
        if self._FREQUENCY_BLOCKS:
            order = np.argsort(x, kind="stable")
            runs = np.split(order, np.flatnonzero(np.diff(x[order])) + 1)
        else:
            runs = [np.arange(x.size)]
        parts = [r[i : i + _WINDOW_PART] for r in runs for i in range(0, r.size, _WINDOW_PART)]
        workers = min(os.cpu_count() or 1, _THREADS) if len(parts) > 1 else 1
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(run, parts))
        return out + 1.0

    def _simulate_totals(
        self,
        draws: FloatArray,
        x: FloatArray,
        t_x: FloatArray,
        big_t: FloatArray,
        tt: FloatArray,
        seed_seq: np.random.SeedSequence,
    ) -> FloatArray:
        """Per draw, the total of one count per customer drawn by inverse CDF.

        Blocks of `_BLOCK` customers x `_DRAW_CHUNK` draws (customers sorted by window),
        each customer's window 1 + the point-estimate quantile at 1 - 1e-3; the customers
        of a block with a draw beyond their window are redone alone with a window four
        times as long (measured at 100,000 customers: a window at 1 - 1e-9 for everyone
        cost twice the CPU). Memory: the draws' totals, the
        uniforms of one chunk of draws and one block. BG/NBD-type blocks are of one
        frequency (`_bg_block`'s per-draw path): measured 3.4 -> 2.4 CPU s for 100,000
        customers x 200 draws, 0.50 -> 0.37 on CDNOW x 1000 draws, same intervals.
        """
        n, n_draws = x.size, draws.shape[0]
        kernel = self._kernel()
        cap = self._y_cap(tt)
        start = np.maximum(1, np.ceil(self._window_start(x, t_x, big_t, tt, 1.0 - 1e-3)))
        window = start.astype(np.int64)
        if cap is not None:
            window = np.minimum(window, max(cap, 1))
        if self._FREQUENCY_BLOCKS:  # blocks of one frequency: `_bg_block`'s fast path
            subs = [sub for sub, _ in _blocks(np.arange(n), window, x, True)]
        else:
            order = np.argsort(window, kind="stable")
            subs = [order[b0 : b0 + _BLOCK] for b0 in range(0, n, _BLOCK)]
        totals = np.zeros(n_draws)
        rng = np.random.default_rng(seed_seq)
        for c0 in range(0, n_draws, _DRAW_CHUNK):
            chunk = draws[c0 : c0 + _DRAW_CHUNK]
            u_count = rng.random((chunk.shape[0], n))
            u_life = rng.random((chunk.shape[0], n)) if self._uses_uniforms() else None
            for sub in subs:
                part = (x[sub], t_x[sub], big_t[sub])
                hz = tt[sub] if tt.size > 1 else tt
                uc = u_count[:, sub]
                ul = None if u_life is None else u_life[:, sub]
                y_max = int(window[sub].max())
                surv = kernel(chunk, part, hz, y_max, ul, False)
                below = (1.0 - surv) < uc  # (y, draws, customers)
                counts = below.sum(axis=0)
                # customers with a draw beyond the window (about 1 in 1000): redo them
                # alone with a window four times as long
                miss = np.flatnonzero(below[-1].any(axis=0))
                while miss.size and (cap is None or y_max < cap):
                    y_max *= 4
                    part_m = tuple(arr[miss] for arr in part)
                    hz_m = hz[miss] if hz.size > 1 else hz
                    ul_m = None if ul is None else ul[:, miss]
                    surv = kernel(chunk, part_m, hz_m, y_max, ul_m, False)
                    below = (1.0 - surv) < uc[:, miss]
                    counts[:, miss] = below.sum(axis=0)
                    miss = miss[below[-1].any(axis=0)]
                totals[c0 : c0 + chunk.shape[0]] += counts.sum(axis=1)
        return totals

    def predict_total(
        self,
        t: Any,
        frequency: Any,
        recency: Any,
        T: Any,
        *,
        level: float = 0.95,
        n_draws: int = 1000,
        seed: int | None = None,
        parameter_uncertainty: bool = True,
        process_uncertainty: bool = True,
    ) -> Interval:
        r"""Interval of all customers' total purchases in $(T, T + t]$.

        A *prediction* interval by default: each of `n_draws` replicates draws one
        parameter vector from the asymptotic normal of the log parameters (if
        `parameter_uncertainty`) and then one count per customer from the customer's
        conditional distribution given that vector (inverse CDF); the interval is the
        equal-tailed quantiles of the replicated totals (the rule of `predict`, so each
        tail holds at most $(1 - \ell)/2$ of the replicates). With
        ``process_uncertainty=False`` it is instead the *confidence* interval of the
        expected total $\sum_i E[Y_i \mid \theta_d]$ over the parameter draws, the
        interval a planner gets from standard errors alone, which is far narrower.

        The `estimate` is the sum of the point values of `expected_purchases`.

        Parameters
        ----------
        t, frequency, recency, T, level, n_draws, seed, parameter_uncertainty
            As in `predict`.
        process_uncertainty : bool, default=True
            Draw the customers' counts (a prediction interval); False gives the
            confidence interval of the expected total (requires
            `parameter_uncertainty`).

        Returns
        -------
        stats.Interval
            `estimate`, `low`, `high`, `confidence` (= `level`), `method`, `n` (the number
            of customers).

        Raises
        ------
        ValueError
            For invalid inputs, both uncertainties switched off, or
            `parameter_uncertainty` on a model without covariance.

        Examples
        --------
        >>> from loyaltymetrics import datasets, models
        >>> c = datasets.load_cdnow_summary()
        >>> m = models.BetaGeoModel.fit(c["frequency"], c["recency"], c["T"])
        >>> iv = m.predict_total(39.0, c["frequency"], c["recency"], c["T"], n_draws=200, seed=1)
        >>> round(iv.estimate), iv.low, iv.high
        (1653, 1478.0, 1849.0)
        """
        from loyaltymetrics.stats import Interval

        x, t_x, big_t, tt = self._validate(t, frequency, recency, T)
        lv = check_level(level)
        draws_n = check_draws(n_draws)
        sd = check_seed(seed)
        v.check_bool(parameter_uncertainty, "parameter_uncertainty")
        v.check_bool(process_uncertainty, "process_uncertainty")
        if not (parameter_uncertainty or process_uncertainty):
            raise ValueError(
                "predict_total needs parameter_uncertainty or process_uncertainty; got both "
                "False (the interval would be a point)"
            )
        horizon = tt if tt.size > 1 else tt[0]
        estimate = float(np.sum(self.expected_purchases(horizon, x, t_x, big_t)))  # type: ignore[attr-defined]
        seq = np.random.SeedSequence(sd)
        param_seq, count_seq = seq.spawn(2)
        if parameter_uncertainty:
            draws = self._param_draws(draws_n, np.random.default_rng(param_seq))
        else:
            draws = np.tile(self._estimates(), (draws_n, 1))
        cls: Any = type(self)
        if process_uncertainty:
            totals = self._simulate_totals(draws, x, t_x, big_t, tt, count_seq)
        else:
            totals = np.empty(draws_n)
            for d in range(draws_n):
                named = dict(zip(self.PARAM_NAMES, draws[d].tolist(), strict=True))
                model = cls.from_params(**named)
                totals[d] = float(np.sum(model.expected_purchases(horizon, x, t_x, big_t)))
        q = (1.0 - lv) / 2.0
        ordered = np.sort(totals)
        # the rule of `predict` on the empirical CDF: smallest value with F >= q
        lo = ordered[max(math.ceil(q * draws_n - _EPS) - 1, 0)]
        hi = ordered[min(max(math.ceil((1.0 - q) * draws_n - _EPS) - 1, 0), draws_n - 1)]
        if process_uncertainty:
            method = (
                "prediction: parameter and process draws"
                if parameter_uncertainty
                else ("prediction: process draws at the estimates")
            )
        else:
            method = "confidence: parameter draws of the expected total"
        return Interval(
            estimate=estimate,
            low=float(lo),
            high=float(hi),
            confidence=lv,
            method=method,
            n=float(x.size),
        )


class BetaGeoPrediction(_Prediction):
    r"""Mixin: BG/NBD prediction intervals.

    Given $(\lambda, p)$ and alive at $T$, the next $t$ bring Poisson purchases with a
    dropout chance $p$ after each, so $P(Y \ge k) = (1 - p)^{k-1}P(N(t) \ge k)$.
    The posterior of an alive customer is $\lambda \sim \Gamma(r + x, \alpha + T)$,
    $p \sim \mathrm{Beta}(a, b + x)$ (independent), so the conditional survival function is

    $$P(Y \ge k \mid x, t_x, T) = P(\text{alive})\,\frac{B(a, b + x + k - 1)}{B(a, b + x)}
      \,P(\mathrm{NB}(r + x, \tfrac{t}{\alpha + T + t}) \ge k),\quad k \ge 1,$$

    FHL (2005) eq. 8 with the updated parameters (the conditional PMF of Fader, Hardie &
    Lee's BG/NBD notes), evaluated by recursions without special functions.
    """

    __slots__ = ()
    _FREQUENCY_BLOCKS = True
    _WINDOW_TRIM = 1.0

    def _kernel(self) -> Kernel:
        return _bg_kernel(False)


class ModifiedBetaGeoPrediction(_Prediction):
    r"""Mixin: MBG/NBD prediction intervals.

    As BG/NBD with $p \sim \mathrm{Beta}(a, b + x + 1)$ for an alive customer (they
    survived $x + 1$ dropout opportunities) and MBG/NBD's P(alive).
    """

    __slots__ = ()
    _FREQUENCY_BLOCKS = True
    _WINDOW_TRIM = 1.0

    def _kernel(self) -> Kernel:
        return _bg_kernel(True)


class ParetoPrediction(_Prediction):
    r"""Mixin: Pareto/NBD prediction intervals.

    An alive customer's posterior is $\lambda \sim \Gamma(r + x, \alpha + T)$ and
    $\mu \sim \Gamma(s, \beta + T)$, so the residual lifetime $\tau$ is Lomax,
    $P(\tau > u) = (1 + u/(\beta + T))^{-s}$. Given $\tau$ the count is
    $\mathrm{NB}(r + x)$ over $\min(\tau, t)$ (the rate integrated out exactly). The
    closed-form conditional PMF (Fader & Hardie 2014, note 028) needs Gauss
    hypergeometric functions per count; instead each draw also draws $\tau$ by inversion,
    so with `parameter_uncertainty=False` the `n_draws` are lifetime draws at the
    estimates.
    """

    __slots__ = ()

    def _kernel(self) -> Kernel:
        return _pareto_kernel(type(self))

    def _uses_uniforms(self) -> bool:
        return True


class BetaGeoBetaBinomPrediction(_Prediction):
    r"""Mixin: BG/BB prediction intervals over the next `t` opportunities (exact PMF).

    `t` is a whole number of opportunities (one value for all customers), and the
    count is at most `t`.
    """

    __slots__ = ()

    def _validate(self, t: Any, frequency: Any, recency: Any, T: Any) -> tuple[Any, ...]:
        from ._bg_bb import check_discrete

        x, t_x, n = check_discrete(frequency, recency, T)
        tt = np.atleast_1d(np.asarray(v.as_real(t, "t"), dtype=np.float64))
        b.check_counts(tt, "t")
        if tt.size != 1:
            raise ValueError(f"t must be one whole number of opportunities; got {tt.size} values")
        return x, t_x, n, tt

    def _kernel(self) -> Kernel:
        return _bgbb_kernel

    def _y_cap(self, tt: FloatArray) -> int | None:
        return int(tt[0])

    def _window_start(
        self, x: FloatArray, t_x: FloatArray, big_t: FloatArray, tt: FloatArray, q: float
    ) -> FloatArray:
        return np.full(x.size, max(float(tt[0]), 1.0))
