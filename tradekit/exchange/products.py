"""Product specs the paper exchange (and the simulator built on it) trades by default.

Increments and minimum sizes are Coinbase's published values for these spot products;
`base_max_size` is approximate (Coinbase adjusts it from time to time). Coinbase also
publishes `quote_min_size` (1 USD for these three); it is left at 0 here so that the
paper exchange accepts every size the core's `ProductSpec.size_problem` accepts. Pass
your own specs with a `quote_min_size` to have the paper exchange enforce it.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType

from tradekit.core.money import ProductSpec

_CENT = Decimal("0.01")
_SATOSHI = Decimal("0.00000001")

BTC_USD = ProductSpec("BTC-USD", _SATOSHI, _CENT, _SATOSHI, Decimal("3400"))
ETH_USD = ProductSpec("ETH-USD", _SATOSHI, _CENT, _SATOSHI, Decimal("38000"))
SOL_USD = ProductSpec("SOL-USD", _SATOSHI, _CENT, _SATOSHI, Decimal("140000"))

DEFAULT_PRODUCTS: Mapping[str, ProductSpec] = MappingProxyType(
    {spec.product_id: spec for spec in (BTC_USD, ETH_USD, SOL_USD)}
)
"""product_id -> ProductSpec, read-only."""
