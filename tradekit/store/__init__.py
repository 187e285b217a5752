"""SQLite persistence for the trading engine: one file, WAL mode, versioned migrations.

`Store` is the file (journal, orders, fills, positions, stop history, engine state);
`encode` / `decode` turn the core's events, commands and reports into JSON-able dicts
and back, exactly.
"""

from tradekit.store.codec import decode, encode
from tradekit.store.sqlite import JournalEntry, Store, StoreError

__all__ = ["JournalEntry", "Store", "StoreError", "decode", "encode"]
