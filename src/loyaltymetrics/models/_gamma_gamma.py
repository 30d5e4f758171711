"""The Gamma-Gamma model of monetary value (Fader, Hardie & Lee 2005; Fader & Hardie 2013)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar, overload

import numpy as np
from scipy import special as sc

from loyaltymetrics import _validation as v
from loyaltymetrics._typing import FloatArray, RealInput

from . import _base as b
from . import _uncertainty as u


def check_spend(frequency: Any, monetary_value: Any) -> tuple[FloatArray, FloatArray]:
    """Repeat buyers only: frequency whole >= 1 and monetary_value > 0, equal lengths."""
    x = b.as_array(frequency, "frequency")
    z = b.as_array(monetary_value, "monetary_value")
    b.check_same_length(frequency=x, monetary_value=z)
    if x.shape[0] == 0:
        raise ValueError("frequency and monetary_value are empty")
    b.check_counts(x, "frequency")
    bad = x < 1
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"the spend model needs repeat buyers (frequency >= 1); got frequency[{i}]=0. "
            "Select the customers with frequency > 0 first"
        )
    bad = z <= 0
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"monetary_value must be positive (refunds or free orders do not fit a gamma "
            f"spend model); got monetary_value[{i}]={v.fmt(z[i])}"
        )
    return x, z


@dataclass(frozen=True, slots=True, repr=False)
class GammaGammaModel(u.ParameterUncertainty, b.BaseModel):
    r"""The Gamma-Gamma model of the average transaction value.

    A customer's transaction values are $\text{Gamma}(p, \nu_i)$ with
    $\nu_i \sim \text{Gamma}(q, \gamma)$, independent of how often they buy. The mean
    $\bar z$ of a customer's $x$ repeat transactions then has the marginal density

    $$f(\bar z \mid x) = \frac{\Gamma(px + q)}{\Gamma(px)\Gamma(q)}
      \frac{\gamma^q\, x^{px}\, \bar z^{px-1}}{(\gamma + x\bar z)^{px+q}}$$

    and the expected spend of a customer given $(x, \bar z)$ is the weighted mean

    $$E[Z \mid x, \bar z] = \frac{q - 1}{px + q - 1}\,\frac{p\gamma}{q - 1}
      + \frac{px}{px + q - 1}\,\bar z$$

    Attributes
    ----------
    params : mapping
        `p`, `q`, `v` (the scale parameter $\gamma$ of the papers; `v` avoids a clash
        with the other models' `gamma`).
    log_likelihood : float
        Total log-likelihood of the fitted data (`nan` for `from_params`).
    standard_errors : mapping
        Asymptotic standard errors from the inverse Hessian.
    n_customers : float
        Number of (repeat-buying) customers fitted.

    Notes
    -----
    Fit it on repeat buyers only (frequency > 0), with `monetary_value` the mean value
    of the repeat transactions (`tables.rfm_summary(..., amount=...)`). The model assumes
    spend is independent of purchase frequency: check the correlation first.

    References
    ----------
    1. Fader, P. S., Hardie, B. G. S., & Lee, K. L. (2005). RFM and CLV: Using Iso-Value
       Curves for Customer Base Analysis. *Journal of Marketing Research*, 42(4),
       415–430. https://doi.org/10.1509/jmkr.2005.42.4.415
    2. Fader, P. S., & Hardie, B. G. S. (2013). The Gamma-Gamma Model of Monetary
       Value. Note 025, http://brucehardie.com/notes/025/

    Examples
    --------
    >>> from loyaltymetrics import datasets, models
    >>> c = datasets.load_cdnow_summary()
    >>> repeat = c.filter(c["frequency"] > 0)
    >>> m = models.GammaGammaModel.fit(repeat["frequency"], repeat["monetary_value"])
    >>> {k: round(val, 2) for k, val in m.params.items()}
    {'p': 6.25, 'q': 3.74, 'v': 15.44}
    """

    covariance: FloatArray = field(default_factory=u.unknown_covariance(3), compare=False)

    PARAM_NAMES: ClassVar[tuple[str, ...]] = ("p", "q", "v")

    @classmethod
    def fit(
        cls, frequency: Any, monetary_value: Any, *, weights: Any = None, penalizer: float = 0.0
    ) -> GammaGammaModel:
        r"""Fit by maximum likelihood to repeat buyers' frequency and mean spend.

        Parameters
        ----------
        frequency : array-like
            Repeat transactions $x \ge 1$ per customer.
        monetary_value : array-like
            Mean value $\bar z > 0$ of those transactions.
        weights : array-like, optional
            Frequency weights.
        penalizer : float, default=0.0
            L2 penalty on the log parameters: maximise
            $\ell/N - \lambda \sum_i (\log \theta_i)^2$ instead of the log-likelihood
            $\ell$ ($N$ customers). 0 is plain maximum likelihood. A small value (1e-4
            to 1e-2; the smallest that converges changes the predictions least) keeps the
            estimate finite where the likelihood has its maximum at a boundary
            (homogeneous customers, see `ConvergenceError`). The penalty pulls
            every parameter towards 1, so it depends on the currency unit through `v`.
            `log_likelihood` is the unpenalised value at the estimate, and `covariance`
            and `standard_errors` come from the curvature of the unpenalised
            log-likelihood there.

        Returns
        -------
        GammaGammaModel
            The fitted model.

        Raises
        ------
        ValueError
            For invalid inputs (a customer with frequency 0 or a non-positive value).
        ConvergenceError
            If maximum likelihood does not converge: the message names the parameters
            that run to a boundary and what to try.
        """
        lam = b.check_penalizer(penalizer)
        x, z = check_spend(frequency, monetary_value)
        w = b.check_weights(weights, x.shape[0])
        used = z[w > 0]
        if used.size and np.all(used == used[0]):
            raise ValueError(
                f"every monetary_value is {v.fmt(float(used[0]))}: with no variation in "
                "spend the Gamma-Gamma model is not identified (its shape runs to infinity)"
            )
        log_x, log_z = np.log(x), np.log(z)

        def objective(params: FloatArray) -> tuple[float, FloatArray]:
            p, q, g = params
            px = p * x
            denom = g + x * z
            ll = (
                sc.gammaln(px + q)
                - sc.gammaln(px)
                - sc.gammaln(q)
                + q * math.log(g)
                + px * log_x
                + (px - 1) * log_z
                - (px + q) * np.log(denom)
            )
            d_p = x * (sc.digamma(px + q) - sc.digamma(px) + log_x + log_z - np.log(denom))
            d_q = sc.digamma(px + q) - sc.digamma(q) + math.log(g) - np.log(denom)
            d_g = q / g - (px + q) / denom
            return b.wsum(w, ll), np.array([b.wsum(w, d_p), b.wsum(w, d_q), b.wsum(w, d_g)])

        n = float(w.sum())
        mean_z = b.wsum(w, z) / n
        start = np.array([1.0, 1.0, mean_z])
        params, ll = b.fit_mle(objective, start, cls.PARAM_NAMES, n, penalizer=lam)
        hess = u.gamma_gamma_hessian(np.array(list(params.values())), x, z, w)
        cov = u.observed_covariance(params, hessian=hess)
        return cls(
            MappingProxyType(params), ll, u.standard_errors_from(cov, cls.PARAM_NAMES), n, cov
        )

    @overload
    def expected_spend(self, frequency: float, monetary_value: float) -> float: ...
    @overload
    def expected_spend(self, frequency: RealInput, monetary_value: RealInput) -> FloatArray: ...
    @b.prediction()
    def expected_spend(self, frequency: Any, monetary_value: Any) -> FloatArray:
        r"""Expected value of a customer's future transactions, given $x$ and $\bar z$.

        Customers without repeat purchases (frequency 0) get the population mean
        $p\gamma/(q - 1)$ whatever their `monetary_value`.

        Parameters
        ----------
        frequency : array-like
            Repeat transactions $x \ge 0$.
        monetary_value : array-like
            Mean repeat-transaction value $\bar z$ (ignored where $x = 0$).

        Returns
        -------
        float or numpy.ndarray
            Expected spend per transaction.
            A float when every argument is a scalar.

        Raises
        ------
        ValueError
            If `q <= 1` (the population mean does not exist) or the inputs are invalid.
        """
        p, q, g = self.params["p"], self.params["q"], self.params["v"]
        if q <= 1:
            raise ValueError(f"expected spend needs q > 1; the model has q={q:.4g}")
        x = b.as_array(frequency, "frequency")
        z = b.as_array(monetary_value, "monetary_value")
        b.check_same_length(frequency=x, monetary_value=z)
        b.check_counts(x, "frequency")
        zz = np.where(x > 0, z, 0.0)
        bad = (x > 0) & (zz <= 0)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"monetary_value must be positive; got monetary_value[{i}]={v.fmt(z[i])}"
            )
        return np.asarray((p * (g + x * zz)) / (p * x + q - 1), dtype=np.float64)
