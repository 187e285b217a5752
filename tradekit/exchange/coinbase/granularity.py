"""Coinbase's candle granularities (seconds a bar) and its per-request candle limit:
facts of the API, used by the history client and served by the simulator alike (a leaf
module: it imports nothing, so either side may import it first)."""

GRANULARITIES = {
    "ONE_MINUTE": 60,
    "FIVE_MINUTE": 300,
    "FIFTEEN_MINUTE": 900,
    "THIRTY_MINUTE": 1800,
    "ONE_HOUR": 3600,
    "TWO_HOUR": 7200,
    "SIX_HOUR": 21600,
    "ONE_DAY": 86400,
}
MAX_CANDLES = 350
