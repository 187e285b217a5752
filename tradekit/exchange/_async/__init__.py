"""The exchange's interfaces, written once in async (the sync twin is generated)."""
