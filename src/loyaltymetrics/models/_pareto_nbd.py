"""The Pareto/NBD model of Schmittlein, Morrison & Colombo (1987)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar, overload

import numpy as np
import polars as pl
from scipy import special as sc

from loyaltymetrics import _validation as v
from loyaltymetrics._typing import FloatArray, RealInput

from . import _base as b
from . import _prediction as pr
from . import _uncertainty as u


def _log1mexp(x: FloatArray) -> FloatArray:
    """log(1 - exp(x)) for x <= 0, accurate near 0 (Mächler 2012); -inf at x = 0."""
    with np.errstate(divide="ignore"):
        return np.where(x > -math.log(2), np.log(-np.expm1(x)), np.log1p(-np.exp(x)))


_NEAR_WHOLE = 1e-3
"""Distance of c - a - b from a whole number below which scipy's 2F1 is unreliable near 1."""
_LARGE_Z = 0.85
_EXTREME_Z = 0.999


def _log_f(
    r: float,
    alpha: float,
    s: float,
    beta: float,
    x: FloatArray,
    y: FloatArray,
    log_alpha_y: FloatArray | None = None,
    log_beta_y: FloatArray | None = None,
) -> FloatArray:
    r"""$\log F(y)$, $F(y) = (r+s+x)\int_y^\infty (\alpha+\tau)^{-(r+x)}(\beta+\tau)^{-(s+1)}d\tau$.

    Fader & Hardie (2005, eq. 19–20): with $m = \max(\alpha, \beta)$,
    $F(y) = {}_2F_1(r+s+x, b_2; r+s+x+1; z) / (m + y)^{r+s+x}$, $z = |\alpha - \beta|/(m + y)$,
    $b_2 = s + 1$ if $\alpha \ge \beta$ and $r + x$ otherwise. That is the common path
    (scipy). Its ${}_2F_1$ is degenerate ($c - a - b$ = $-s$, resp. $1 - r - x$) when $s$,
    resp. $r$, is a whole number, where scipy fails for $z > 0.9$; it loses digits to the
    rounding of $z$ within 1e-3 of 1; and for $\beta \gg \alpha$ with large $x$ it overflows
    (it grows like $(1 - z)^{1-r-x}$). There `_log_f_euler` takes over, element by element.
    `log_alpha_y`, `log_beta_y`: the logs of $\alpha + y$ and $\beta + y$ if the caller has
    them.
    """
    rsx = r + s + x
    if alpha >= beta:
        second: Any = s + 1.0
        base_y = alpha + y
        log_base = log_alpha_y
        whole = abs(s - round(s)) < _NEAR_WHOLE
    else:
        second = r + x
        base_y = beta + y
        log_base = log_beta_y
        whole = abs(r - round(r)) < _NEAR_WHOLE
    z = abs(alpha - beta) / base_y
    with np.errstate(divide="ignore", invalid="ignore"):
        out: FloatArray = np.log(sc.hyp2f1(rsx, second, rsx + 1.0, z)) - rsx * (
            np.log(base_y) if log_base is None else log_base
        )
    limit = _LARGE_Z if whole else _EXTREME_Z
    # one reduction on the common path: z <= |alpha - beta| / max(alpha, beta) (y >= 0)
    if abs(alpha - beta) / max(alpha, beta) > limit or not np.isfinite(out.sum()):
        i = np.flatnonzero((z > limit) | ~np.isfinite(out))
        out[i] = _log_f_euler(r, alpha, s, beta, x[i] if x.ndim else x, y[i] if y.ndim else y)
    return out


def _log_f_euler(
    r: float, alpha: float, s: float, beta: float, x: FloatArray, y: FloatArray
) -> FloatArray:
    r"""`_log_f` after Euler's transformation, with `hyp2f1_robust`: slow, never overflows.

    ${}_2F_1(a, b; c; z) = (1-z)^{c-a-b}{}_2F_1(c-a, c-b; c; z)$ takes the growth out in
    closed form, in logs:

    * $\alpha \ge \beta$: $-(r+x)\log(\alpha+y) - s\log(\beta+y)
      + \log {}_2F_1(1, r+x; r+s+x+1; \frac{\alpha-\beta}{\alpha+y})$
    * $\alpha < \beta$: $-(r+x-1)\log(\alpha+y) - (s+1)\log(\beta+y)
      + \log {}_2F_1(1, s+1; r+s+x+1; \frac{\beta-\alpha}{\beta+y})$

    The remaining ${}_2F_1(1, \cdot; \cdot; z)$ are sums of positive terms, at most
    $O((1 - z)^{-1})$ ($c - a - b$ is $s$, resp. $r + x - 1 > -1$), evaluated by
    `hyp2f1_robust` with $1 - z$ exact: no overflow, no degenerate case.
    """
    x, y = np.broadcast_arrays(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
    rsx = r + s + x
    alpha_y = alpha + y
    beta_y = beta + y
    if alpha >= beta:
        head = -(r + x) * np.log(alpha_y) - s * np.log(beta_y)
        hyp = b.hyp2f1_robust(1.0, r + x, rsx + 1, (alpha - beta) / alpha_y, beta_y / alpha_y)
    else:
        head = -(r + x - 1) * np.log(alpha_y) - (s + 1) * np.log(beta_y)
        hyp = b.hyp2f1_robust(1.0, s + 1, rsx + 1, (beta - alpha) / beta_y, alpha_y / beta_y)
    return np.asarray(head + np.log(hyp[0]))


def _log_a0(
    r: float,
    alpha: float,
    s: float,
    beta: float,
    x: FloatArray,
    t_x: FloatArray,
    big_t: FloatArray,
    log_alpha_t: FloatArray | None = None,
    log_beta_t: FloatArray | None = None,
) -> FloatArray:
    r"""Log of $A_0$ (Fader & Hardie 2005, eq. 19–20), a difference of two positive terms.

    $A_0 = F(t_x) - F(T)$ with $F$ of `_log_f` (divided by $r + s + x$); $F$ decreases in
    $y$, so $\log A_0 = \log F(t_x) + \log(1 - e^{\log F(T) - \log F(t_x)})$ with no
    cancellation, and $A_0 = 0$ exactly when $t_x = T$. `log_alpha_t`, `log_beta_t`: the
    logs of $\alpha + T$ and $\beta + T$ if the caller has them.
    """
    log_f_tx = _log_f(r, alpha, s, beta, x, t_x)
    log_f_t = _log_f(r, alpha, s, beta, x, big_t, log_alpha_t, log_beta_t)
    return np.asarray(log_f_tx + _log1mexp(np.minimum(log_f_t - log_f_tx, 0.0)))


def _loglik(params: FloatArray, x: FloatArray, t_x: FloatArray, big_t: FloatArray) -> FloatArray:
    """Per-customer log-likelihood (Fader & Hardie 2005, eq. 22), in log space."""
    r, alpha, s, beta = params
    head = sc.gammaln(r + x) - sc.gammaln(r) + r * math.log(alpha) + s * math.log(beta)
    log_alpha_t = np.log(alpha + big_t)
    log_beta_t = np.log(beta + big_t)
    alive = -(r + x) * log_alpha_t - s * log_beta_t
    log_a0 = _log_a0(r, alpha, s, beta, x, t_x, big_t, log_alpha_t, log_beta_t)
    died = np.log(s) - np.log(r + s + x) + log_a0
    return np.asarray(head + np.logaddexp(alive, died))


_MAX_SHAPE = 1e3
"""The fit searches r, s <= 1e3: beyond, the rates are all but homogeneous (coefficient of
variation below 3%), the data cannot tell the values apart, and each likelihood evaluation
gets slow (the hypergeometric function's steps grow with r + s + x). Measured: on 50
identical customers the unbounded search walked to r = 1e5 at 5-8 s per evaluation."""
_MAX_EVALUATIONS = 4000
"""Cap on likelihood evaluations in one fit (9 per optimiser step: value and central
differences); the CDNOW fit makes about 250."""


def _shape_note(calls: int) -> str:
    return f" after {calls} likelihood evaluations (cap {_MAX_EVALUATIONS})"


@dataclass(frozen=True, slots=True, repr=False)
class ParetoNBDModel(pr.ParetoPrediction, b.BaseModel):
    r"""The Pareto/NBD model: Poisson purchasing with exponential lifetimes.

    While alive, customer $i$ buys at Poisson rate $\lambda_i \sim \text{Gamma}(r, \alpha)$;
    their unobserved lifetime is exponential with rate $\mu_i \sim \text{Gamma}(s, \beta)$.
    The likelihood of $(x, t_x, T)$ is

    $$L = \frac{\Gamma(r + x)\alpha^r\beta^s}{\Gamma(r)}\left[
      \frac{1}{(\alpha + T)^{r+x}(\beta + T)^s} + \frac{s}{r + s + x} A_0\right]$$

    with $A_0$ a difference of Gauss hypergeometric terms, evaluated here in log space so
    that it stays finite and exact for large $x$ and for $t_x = T$.

    Attributes
    ----------
    params : mapping
        `r`, `alpha` (purchase rate), `s`, `beta` (dropout rate).
    log_likelihood : float
        Total log-likelihood of the fitted data (`nan` for `from_params`).
    standard_errors : mapping
        Asymptotic standard errors from the inverse Hessian.
    n_customers : float
        Number of customers fitted (sum of the weights).

    Notes
    -----
    The gradient has no convenient closed form; the fit uses central finite differences
    of the log-space likelihood (deterministic, no random restarts), and the standard
    errors a Hessian of second differences on the log-parameter scale.

    On CDNOW the published estimates are r = 0.553, α = 10.578, s = 0.606, β = 11.669
    with LL = −9595.0 (Fader, Hardie & Lee 2005). The likelihood is very flat in β
    (standard error ≈ 6.2): a Nelder–Mead polish to 1e-10 gives β = 11.6679, the value
    this fit returns, so the published third decimal of β is a solver tolerance, not a
    different optimum; the other estimates and the log-likelihood agree.

    References
    ----------
    1. Schmittlein, D. C., Morrison, D. G., & Colombo, R. (1987). Counting Your
       Customers: Who Are They and What Will They Do Next? *Management Science*, 33(1),
       1–24.
    2. Fader, P. S., & Hardie, B. G. S. (2005). A Note on Deriving the Pareto/NBD Model
       and Related Expressions. http://brucehardie.com/notes/009/

    Examples
    --------
    >>> from loyaltymetrics import datasets, models
    >>> c = datasets.load_cdnow_summary()
    >>> m = models.ParetoNBDModel.fit(c["frequency"], c["recency"], c["T"])
    >>> {k: round(val, 3) for k, val in m.params.items()}
    {'r': 0.553, 'alpha': 10.578, 's': 0.606, 'beta': 11.668}
    >>> round(m.log_likelihood, 1)
    -9595.0
    """

    covariance: FloatArray = field(default_factory=u.unknown_covariance(4), compare=False)

    PARAM_NAMES: ClassVar[tuple[str, ...]] = ("r", "alpha", "s", "beta")

    @classmethod
    def fit(
        cls, frequency: Any, recency: Any, T: Any, *, weights: Any = None, penalizer: float = 0.0
    ) -> ParetoNBDModel:
        r"""Fit by maximum likelihood to an RFM summary.

        Parameters
        ----------
        frequency : array-like
            Repeat purchases $x$ per customer (whole numbers ≥ 0).
        recency : array-like
            Time of the last purchase $t_x$ (0 when $x = 0$), ≤ `T`.
        T : array-like
            Time from the first purchase to the end of observation, ≥ 0 (0 only with
            frequency 0).
        weights : array-like, optional
            Frequency weights.
        penalizer : float, default=0.0
            L2 penalty on the log parameters: maximise
            $\ell/N - \lambda \sum_i (\log \theta_i)^2$ instead of the log-likelihood
            $\ell$ ($N$ customers). 0 is plain maximum likelihood. A small value (1e-4
            to 1e-2; the smallest that converges changes the predictions least) keeps the
            estimate finite where the likelihood has its maximum at a boundary
            (homogeneous customers, see `ConvergenceError`). The penalty pulls
            every parameter towards 1, so it depends on the time unit through the scale
            parameters. `log_likelihood` is the unpenalised value at
            the estimate, and `covariance` and `standard_errors` come from the curvature
            of the unpenalised log-likelihood there.

        Returns
        -------
        ParetoNBDModel
            The fitted model.

        Raises
        ------
        ValueError
            For invalid inputs.
        ConvergenceError
            If maximum likelihood does not converge: the message names the parameters
            that run to a boundary and what to try.
        """
        x, t_x, big_t = b.check_rfm(frequency, recency, T)
        w = b.check_weights(weights, x.shape[0])
        b.check_identified(x, w)
        lam = b.check_penalizer(penalizer)

        calls = [0]

        def total(p: FloatArray) -> float:
            if p[0] > _MAX_SHAPE or p[2] > _MAX_SHAPE:
                return math.nan  # outside the searched domain: the optimiser steps back
            calls[0] += 1
            if calls[0] > _MAX_EVALUATIONS:
                last = b.format_params(dict(zip(cls.PARAM_NAMES, p.tolist(), strict=True)))
                raise b.ConvergenceError(
                    f"maximum likelihood stopped at the cap of {_MAX_EVALUATIONS} likelihood "
                    f"evaluations without converging (last point {last})"
                )
            with np.errstate(invalid="ignore"):
                return b.wsum(w, _loglik(p, x, t_x, big_t))

        def objective(p: FloatArray) -> tuple[float, FloatArray]:
            ll = total(p)
            grad = np.empty(4)
            for j in range(4):
                h = 1e-4 * p[j]
                up, down = p.copy(), p.copy()
                up[j] += h
                down[j] -= h
                grad[j] = (total(up) - total(down)) / (2 * h)
            return ll, grad

        n = float(w.sum())
        mean_x = b.wsum(w, x) / n
        mean_t = b.wsum(w, big_t) / n
        start = np.array([1.0, max(mean_t / max(mean_x, 1e-3), 1e-3), 1.0, mean_t])
        try:
            params, ll = b.fit_mle(objective, start, cls.PARAM_NAMES, n, gtol=1e-9, penalizer=lam)
        except b.ConvergenceError as err:
            raise b.ConvergenceError(f"{err}{_shape_note(calls[0])}") from err
        if max(params["r"], params["s"]) > _MAX_SHAPE / 2:
            raise b.ConvergenceError(
                f"maximum likelihood ran to the cap on the shape parameters (r, s <= "
                f"{_MAX_SHAPE:g}): {b.format_params(params)}; the data do not identify the "
                "heterogeneity of the purchase or dropout rates"
            )
        # the covariance's finite differences do not count against the fit's evaluation cap
        cov = u.observed_covariance(params, loglik=lambda p: b.wsum(w, _loglik(p, x, t_x, big_t)))
        se = u.standard_errors_from(cov, cls.PARAM_NAMES)
        return cls(MappingProxyType(params), ll, se, n, cov)

    def _p_alive(self, x: FloatArray, t_x: FloatArray, big_t: FloatArray) -> FloatArray:
        r, alpha, s, beta = self._values()
        log_alpha_t = np.log(alpha + big_t)
        log_beta_t = np.log(beta + big_t)
        log_odds = (
            math.log(s)
            - np.log(r + s + x)
            + (r + x) * log_alpha_t
            + s * log_beta_t
            + _log_a0(r, alpha, s, beta, x, t_x, big_t, log_alpha_t, log_beta_t)
        )
        return np.asarray(sc.expit(-log_odds), dtype=np.float64)

    @overload
    def p_alive(self, frequency: float, recency: float, T: float) -> float: ...
    @overload
    def p_alive(self, frequency: RealInput, recency: RealInput, T: RealInput) -> FloatArray: ...
    @b.prediction(probability=True)
    def p_alive(self, frequency: Any, recency: Any, T: Any) -> FloatArray:
        r"""Probability that each customer is still alive at $T$.

        $$P(\text{alive} \mid x, t_x, T) = \left[1 + \frac{s}{r + s + x}
          (\alpha + T)^{r+x}(\beta + T)^s A_0\right]^{-1}$$

        Parameters
        ----------
        frequency, recency, T : array-like
            The customers' RFM summary.

        Returns
        -------
        float or numpy.ndarray
            Probabilities in [0, 1].
            A float when every argument is a scalar.
        """
        x, t_x, big_t = b.check_rfm(frequency, recency, T)
        return self._p_alive(x, t_x, big_t)

    @overload
    def expected_purchases_new(self, t: float) -> float: ...
    @overload
    def expected_purchases_new(self, t: RealInput) -> FloatArray: ...
    @b.prediction()
    def expected_purchases_new(self, t: Any) -> FloatArray:
        r"""Expected purchases of a new customer in $(0, t]$.

        $$E[X(t)] = \frac{r\beta}{\alpha(s - 1)}\left[1 - \left(\frac{\beta}{\beta + t}
          \right)^{s-1}\right]$$

        Parameters
        ----------
        t : float or array-like
            Length of the period, ≥ 0.

        Returns
        -------
        float or numpy.ndarray
            Expected number of purchases.
            A float when every argument is a scalar.
        """
        r, alpha, s, beta = self._values()
        tt = np.asarray(v.as_real(t, "t"), dtype=np.float64)
        v.check_nonnegative(tt, "t")
        if s == 1:
            out = r * beta / alpha * np.log1p(tt / beta)
        else:
            # log(beta/(beta + t)) as -log1p(t/beta): exact for t << beta (no 1 - 1e-11)
            out = r * beta / (alpha * (s - 1)) * -np.expm1(-(s - 1) * np.log1p(tt / beta))
        return out

    @overload
    def expected_purchases(self, t: float, frequency: float, recency: float, T: float) -> float: ...
    @overload
    def expected_purchases(
        self, t: RealInput, frequency: RealInput, recency: RealInput, T: RealInput
    ) -> FloatArray: ...
    @b.prediction()
    def expected_purchases(self, t: Any, frequency: Any, recency: Any, T: Any) -> FloatArray:
        r"""Expected purchases in the next $t$, given a customer's history.

        $$E[Y(t) \mid x, t_x, T] = \frac{(r + x)(\beta + T)}{(\alpha + T)(s - 1)}
          \left[1 - \left(\frac{\beta + T}{\beta + T + t}\right)^{s-1}\right]
          P(\text{alive} \mid x, t_x, T)$$

        Parameters
        ----------
        t : float or array-like
            Length of the future period, ≥ 0.
        frequency, recency, T : array-like
            The customers' RFM summary.

        Returns
        -------
        float or numpy.ndarray
            Expected purchases per customer.
            A float when every argument is a scalar.
        """
        x, t_x, big_t = b.check_rfm(frequency, recency, T)
        tt = np.asarray(v.as_real(t, "t"), dtype=np.float64)
        v.check_nonnegative(tt, "t")
        return np.asarray(
            self._if_alive(tt, x, big_t) * self._p_alive(x, t_x, big_t), dtype=np.float64
        )

    def _if_alive(self, tt: FloatArray, x: FloatArray, big_t: FloatArray) -> FloatArray:
        """Expected purchases in the next `tt` for a customer alive at T (validated input)."""
        r, alpha, s, beta = self._values()
        if s == 1:
            growth = (r + x) * (beta + big_t) / (alpha + big_t) * np.log1p(tt / (beta + big_t))
        else:
            shrink = -(s - 1) * np.log1p(tt / (beta + big_t))
            growth = (r + x) * (beta + big_t) / ((alpha + big_t) * (s - 1)) * -np.expm1(shrink)
        return np.asarray(growth, dtype=np.float64)

    def simulate(self, n_customers: int, T: Any, *, seed: int) -> pl.DataFrame:
        r"""Draw a synthetic population from the Pareto/NBD process.

        Parameters
        ----------
        n_customers : int
            Number of customers.
        T : float or array-like
            Observation length per customer, > 0.
        seed : int
            Seed of the random generator.

        Returns
        -------
        polars.DataFrame
            `frequency` (Int64), `recency`, `T` (Float64).
        """
        rng, big_t = b.simulation_setup(n_customers, T, seed)
        r, alpha, s, beta = self._values()
        lam = rng.gamma(r, 1.0 / alpha, size=n_customers)
        mu = rng.gamma(s, 1.0 / beta, size=n_customers)
        alive_until = np.minimum(rng.exponential(1.0 / mu), big_t)
        events = rng.poisson(lam * alive_until)
        has = events > 0
        last = np.zeros(n_customers)
        last[has] = rng.beta(events[has], 1.0) * alive_until[has]  # max of m uniforms
        return pl.DataFrame(
            {"frequency": events, "recency": last, "T": big_t},
            schema={"frequency": pl.Int64, "recency": pl.Float64, "T": pl.Float64},
        )
