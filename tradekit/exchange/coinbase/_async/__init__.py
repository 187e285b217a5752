"""The async Coinbase adapters: the ONE source; `_sync/` is generated from it."""
