"""Bridges to the tools maintainers already use (b4's review view)."""
