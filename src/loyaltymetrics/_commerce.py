"""Commerce metrics: repeat purchase, frequency, AOV, referral, share of wallet."""

from __future__ import annotations

from typing import overload

import numpy as np

from . import _validation as v
from ._array import clip, counts, part_of_whole, ratio, real_args
from ._typing import FloatArray, Real, RealInput


@overload
def repeat_purchase_rate(repeat_customers: float, customers: float) -> float: ...
@overload
def repeat_purchase_rate(repeat_customers: RealInput, customers: RealInput) -> FloatArray: ...
def repeat_purchase_rate(repeat_customers: RealInput, customers: RealInput) -> Real:
    r"""Repeat purchase rate: the share of buyers who bought at least twice in the window.

    $$\mathrm{RPR} = \frac{\#\{\text{customers with} \ge 2 \text{ orders}\}}
                          {\#\{\text{customers with} \ge 1 \text{ order}\}}$$

    Parameters
    ----------
    repeat_customers : float or array-like
        Customers with two or more orders in the window, at most `customers`.
    customers : float or array-like
        Customers with at least one order in the window, non-negative.

    Returns
    -------
    float or numpy.ndarray
        A fraction in [0, 1]; `nan` where `customers` is 0.

    Raises
    ------
    TypeError
        If an argument is a string, `None` or boolean.
    ValueError
        If a count is negative or non-finite, `repeat_customers > customers`, or the
        shapes do not broadcast.

    Notes
    -----
    State the window: a lifetime rate (≥ 2 orders ever) and a windowed rate differ, and
    a young customer has had less time to repeat.

    References
    ----------
    1. Farris, P. W., Bendle, N. T., Pfeifer, P. E., & Reibstein, D. J. (2010).
       *Marketing Metrics* (2nd ed.). Pearson.

    Examples
    --------
    >>> import loyaltymetrics as lm
    >>> lm.repeat_purchase_rate(320, 1000)
    0.32
    """
    return part_of_whole(repeat_customers, "repeat_customers", customers, "customers")


@overload
def purchase_frequency(orders: float, customers: float) -> float: ...
@overload
def purchase_frequency(orders: RealInput, customers: RealInput) -> FloatArray: ...
def purchase_frequency(orders: RealInput, customers: RealInput) -> Real:
    r"""Purchase frequency: orders per customer over a period.

    $$F = \frac{\text{orders}}{\text{customers}}$$

    Parameters
    ----------
    orders : float or array-like
        Orders in the period, non-negative.
    customers : float or array-like
        Distinct customers in the period, non-negative.

    Returns
    -------
    float or numpy.ndarray
        Orders per customer, $\ge 0$; `nan` where `customers` is 0.

    Raises
    ------
    TypeError
        If an argument is a string, `None` or boolean.
    ValueError
        If a count is negative or non-finite, or the shapes do not broadcast.

    Notes
    -----
    Not the buy-till-you-die "frequency" of `tables.rfm_summary`, which counts *repeat*
    purchase periods (orders − 1). Revenue per customer = AOV × purchase frequency.

    References
    ----------
    1. Farris, P. W., Bendle, N. T., Pfeifer, P. E., & Reibstein, D. J. (2010).
       *Marketing Metrics* (2nd ed.). Pearson.

    Examples
    --------
    >>> import loyaltymetrics as lm
    >>> lm.purchase_frequency(1500, 1000)
    1.5
    """
    o, c = counts(("orders", "customers"), orders, customers)
    return ratio(o, c)


@overload
def average_order_value(revenue: float, orders: float) -> float: ...
@overload
def average_order_value(revenue: RealInput, orders: RealInput) -> FloatArray: ...
def average_order_value(revenue: RealInput, orders: RealInput) -> Real:
    r"""Average order value (AOV): revenue per order.

    $$\mathrm{AOV} = \frac{\text{revenue}}{\text{orders}}$$

    Parameters
    ----------
    revenue : float or array-like
        Revenue over the orders, non-negative, in currency units.
    orders : float or array-like
        Number of orders, non-negative.

    Returns
    -------
    float or numpy.ndarray
        Currency per order; `nan` where `orders` is 0.

    Raises
    ------
    TypeError
        If an argument is a string, `None` or boolean.
    ValueError
        If a value is negative or non-finite, or the shapes do not broadcast.

    Notes
    -----
    The AOV of several segments together is $\sum$ revenue / $\sum$ orders, not the mean
    of the segments' AOVs. Say whether revenue is gross or net of discounts, tax,
    shipping and returns; refunds (negative net revenue) belong in the table functions,
    which document their policy.

    References
    ----------
    1. Farris, P. W., Bendle, N. T., Pfeifer, P. E., & Reibstein, D. J. (2010).
       *Marketing Metrics* (2nd ed.). Pearson.

    Examples
    --------
    >>> import loyaltymetrics as lm
    >>> lm.average_order_value(12_500.0, 250)
    50.0
    >>> lm.average_order_value(0.0, 0)
    nan
    """
    r, o = counts(("revenue", "orders"), revenue, orders)
    return ratio(r, o)


@overload
def referral_rate(referred_customers: float, new_customers: float) -> float: ...
@overload
def referral_rate(referred_customers: RealInput, new_customers: RealInput) -> FloatArray: ...
def referral_rate(referred_customers: RealInput, new_customers: RealInput) -> Real:
    r"""Referral rate: the share of new customers acquired through a referral.

    $$\text{referral rate} = \frac{\text{referred new customers}}{\text{all new customers}}$$

    Parameters
    ----------
    referred_customers : float or array-like
        New customers who came through a referral, at most `new_customers`.
    new_customers : float or array-like
        All new customers in the period, non-negative.

    Returns
    -------
    float or numpy.ndarray
        A fraction in [0, 1]; `nan` where `new_customers` is 0.

    Raises
    ------
    TypeError
        If an argument is a string, `None` or boolean.
    ValueError
        If a count is negative or non-finite, `referred_customers > new_customers`, or
        the shapes do not broadcast.

    Notes
    -----
    Not the viral coefficient (invitations per user × acceptance rate), nor referrals
    per customer; those answer different questions.

    References
    ----------
    1. Croll, A., & Yoskovitz, B. (2013). *Lean Analytics*, ch. 17. O'Reilly.

    Examples
    --------
    >>> import loyaltymetrics as lm
    >>> lm.referral_rate(45, 300)
    0.15
    """
    return part_of_whole(referred_customers, "referred_customers", new_customers, "new_customers")


@overload
def share_of_wallet(brand_spend: float, category_spend: float) -> float: ...
@overload
def share_of_wallet(brand_spend: RealInput, category_spend: RealInput) -> FloatArray: ...
def share_of_wallet(brand_spend: RealInput, category_spend: RealInput) -> Real:
    r"""Share of wallet: the part of a customer's category spend that goes to the brand.

    $$\mathrm{SoW} = \frac{\text{brand spend}}{\text{category spend}}$$

    Parameters
    ----------
    brand_spend : float or array-like
        Spend with the brand, non-negative, at most `category_spend`.
    category_spend : float or array-like
        The customer's total spend in the category, non-negative.

    Returns
    -------
    float or numpy.ndarray
        A fraction in [0, 1]; `nan` where `category_spend` is 0.

    Raises
    ------
    TypeError
        If an argument is a string, `None` or boolean.
    ValueError
        If a spend is negative or non-finite, `brand_spend > category_spend`, or the
        shapes do not broadcast.

    See Also
    --------
    wallet_allocation_share : Share of wallet predicted from a brand's rank.

    Notes
    -----
    Over many customers, the spend-weighted share $\sum$ brand / $\sum$ category and the
    mean of individual shares differ; pass the sums for the former.

    References
    ----------
    1. Keiningham, T. L., Aksoy, L., Buoye, A., & Cooil, B. (2011). Customer Loyalty
       Isn't Enough. Grow Your Share of Wallet. *Harvard Business Review*, October 2011.

    Examples
    --------
    >>> import loyaltymetrics as lm
    >>> lm.share_of_wallet(300.0, 1200.0)
    0.25
    """
    return part_of_whole(brand_spend, "brand_spend", category_spend, "category_spend")


@overload
def wallet_allocation_share(rank: float, n_brands: float) -> float: ...
@overload
def wallet_allocation_share(rank: RealInput, n_brands: RealInput) -> FloatArray: ...
def wallet_allocation_share(rank: RealInput, n_brands: RealInput) -> Real:
    r"""Share of wallet predicted by the Wallet Allocation Rule from a brand's rank.

    A customer who uses $n$ brands in a category and ranks them $1$ (best) to $n$ gives
    the brand of rank $k$ the share

    $$\mathrm{SoW}(k, n) = \left(1 - \frac{k}{n + 1}\right) \frac{2}{n}$$

    Parameters
    ----------
    rank : float or array-like
        The brand's rank among the customer's brands, from 1 to `n_brands`. Tied brands
        take their average rank (two brands tied for first both get 1.5), so a rank is a
        whole or half-whole number.
    n_brands : float or array-like
        The number of brands the customer uses in the category, a whole number ≥ 1.

    Returns
    -------
    float or numpy.ndarray
        A fraction in (0, 1]. The shares of a complete ranking 1..n (ties at average
        ranks included) sum to 1; `n_brands = 1` gives 1.

    Raises
    ------
    TypeError
        If an argument is a string, `None` or boolean.
    ValueError
        If `n_brands` is not a whole number ≥ 1, `rank` is outside 1..`n_brands` or not a
        multiple of 0.5, or the shapes do not broadcast.

    See Also
    --------
    share_of_wallet : The observed share.

    References
    ----------
    1. Keiningham, T. L., Aksoy, L., Buoye, A., & Cooil, B. (2011). Customer Loyalty
       Isn't Enough. Grow Your Share of Wallet. *Harvard Business Review*, October 2011.
    2. Keiningham, T. L., Aksoy, L., & Williams, L., with Buoye, A. (2015). *The Wallet
       Allocation Rule: Winning the Battle for Share*, appendix A. Wiley.

    Examples
    --------
    >>> import loyaltymetrics as lm
    >>> round(lm.wallet_allocation_share(1, 2), 4)
    0.6667
    >>> lm.wallet_allocation_share([1, 2, 3, 4], 4)
    array([0.4, 0.3, 0.2, 0.1])
    >>> lm.wallet_allocation_share([1.5, 1.5, 3], 3).round(4)    # a tie for first
    array([0.4167, 0.4167, 0.1667])
    """
    k, n = real_args(("rank", "n_brands"), rank, n_brands)
    v.check_multiple(n, "n_brands", 1.0, "a whole number")
    v.check_in_range(n, "n_brands", 1.0, np.inf)
    v.check_multiple(k, "rank", 0.5, "a whole or half-whole number (an average rank)")
    v.check_in_range(k, "rank", 1.0, np.inf)
    v.check_not_greater(k, "rank", n, "n_brands")
    return clip((1.0 - k / (n + 1.0)) * (2.0 / n), 0.0, 1.0)
