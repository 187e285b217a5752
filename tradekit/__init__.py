"""tradekit: limit-order entries and ratchet-only trailing stops for Coinbase spot.

`import tradekit` stays light: the pure core only. Config (pydantic), the notebook layer
(plotly, ipywidgets) and the exchange adapters are imported where they are used.
"""

__version__ = "0.1.0"
