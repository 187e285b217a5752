"""Exchange adapters behind one interface: paper (in-memory), Coinbase (REST + WebSocket)."""
