"""`tradekit sim`: a Coinbase Advanced Trade look-alike on loopback."""
