"""Hooks into other training frameworks (each an optional extra): ``gaplab.integrations.lightning``."""
