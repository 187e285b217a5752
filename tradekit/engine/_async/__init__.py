"""Engine drivers, async source (`_sync/` is generated from here)."""
