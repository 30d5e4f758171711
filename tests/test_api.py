"""The public surface: ``__all__``, the API.md §1 contract, docstrings and packaging."""

from __future__ import annotations

import inspect
import types
from importlib import resources

import pytest

import loyaltymetrics as lm

# API.md §1: names and parameter names are fixed.
CONTRACT: dict[str, list[str]] = {
    "nps": ["scores", "weights"],
    "nps_from_counts": ["promoters", "passives", "detractors"],
    "csat": ["scores", "scale", "threshold", "method", "weights"],
    "ces": ["scores", "scale", "threshold", "method", "higher_is_better", "weights"],
    "response_rate": ["responses", "invited"],
    "retention_rate": [
        "customers_start",
        "customers_end",
        "customers_new",
        "customers_reactivated",
    ],
    "churn_rate": ["customers_start", "customers_lost"],
    "convert_rate": ["rate", "from_periods", "to_periods", "kind"],
    "net_revenue_retention": ["revenue_start", "expansion", "contraction", "churned"],
    "gross_revenue_retention": ["revenue_start", "contraction", "churned"],
    "repeat_purchase_rate": ["repeat_customers", "customers"],
    "purchase_frequency": ["orders", "customers"],
    "average_order_value": ["revenue", "orders"],
    "referral_rate": ["referred_customers", "new_customers"],
    "share_of_wallet": ["brand_spend", "category_spend"],
    "wallet_allocation_share": ["rank", "n_brands"],
    "clv": ["average_order_value", "purchase_frequency", "lifespan", "margin"],
    "clv_discounted": ["margin", "retention_rate", "discount_rate", "periods", "include_current"],
    "loyalty_index": ["components", "weights"],
}

# Options that API.md puts after ``*``.
KEYWORD_ONLY: dict[str, set[str]] = {
    "nps": {"weights"},
    "csat": {"scale", "threshold", "method", "weights"},
    "ces": {"scale", "threshold", "method", "higher_is_better", "weights"},
    "retention_rate": {"customers_reactivated"},
    "convert_rate": {"from_periods", "to_periods", "kind"},
    "clv": {"margin"},
    "clv_discounted": {"periods", "include_current"},
    "loyalty_index": {"weights"},
}


def test_all_is_sorted_and_complete() -> None:
    assert lm.__all__ == sorted(lm.__all__)
    # public submodules (tables, ...) are namespaces, not names in __all__
    public = {
        n
        for n in dir(lm)
        if not n.startswith("_") and not isinstance(getattr(lm, n), types.ModuleType)
    }
    assert set(lm.__all__) - {"__version__"} == public
    for name in lm.__all__:
        assert hasattr(lm, name)


def test_contract_names_and_parameters_in_order() -> None:
    for name, params in CONTRACT.items():
        sig = inspect.signature(getattr(lm, name))
        assert list(sig.parameters) == params, name
        kw_only = {p.name for p in sig.parameters.values() if p.kind is p.KEYWORD_ONLY}
        assert kw_only == KEYWORD_ONLY.get(name, set()), name


@pytest.mark.parametrize("name", sorted(CONTRACT))
def test_docstring_sections(name: str) -> None:
    doc = inspect.getdoc(getattr(lm, name)) or ""
    for section in ("Parameters", "Returns", "Raises", "References", "Examples"):
        assert f"\n{section}\n" in doc, f"{name} lacks {section}"
    assert "$$" in doc, f"{name} has no formula"
    assert ">>> import loyaltymetrics as lm" in doc
    # every parameter is documented
    for param in CONTRACT[name]:
        assert f"\n{param} : " in doc, f"{name} does not document {param}"
    # a reference carries a year
    refs = doc.split("\nReferences\n", 1)[1].split("\nExamples\n", 1)[0]
    assert any(str(year) in refs for year in range(1900, 2030)), name


def test_zero_denominator_documented_as_nan() -> None:
    for name in CONTRACT:
        if name in {
            "clv",
            "clv_discounted",
            "loyalty_index",
            "convert_rate",
            "wallet_allocation_share",
        }:
            continue  # no denominator that data can make zero
        doc = inspect.getdoc(getattr(lm, name)) or ""
        assert "`nan`" in doc, name


def test_shared_parameter_weights_is_described_the_same_way() -> None:
    def weights_doc(name: str) -> str:
        doc = inspect.getdoc(getattr(lm, name)) or ""
        return doc.split("\nweights : ", 1)[1].split("\n\n", 1)[0]

    texts = {name: weights_doc(name) for name in ("nps", "csat", "ces")}
    for text in texts.values():
        assert "one per answer" in text
        assert "non-negative" in text


def test_py_typed_ships() -> None:
    assert resources.files("loyaltymetrics").joinpath("py.typed").is_file()


def test_version() -> None:
    assert isinstance(lm.__version__, str)
    assert lm.__version__.startswith("0.1.0")
