"""Helpers the tests share (imported as `helpers.<module>`: tests/ is on the path by its
conftest). `tests/core/adversary.py` stays beside the core's tests: it is their subject."""
