"""Coinbase Advanced Trade adapters: REST and WebSocket feed (async source, sync generated)."""
