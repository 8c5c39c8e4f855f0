"""heartchain: charity donation traceability and mutual aid on one witnessed transparency log."""

__version__ = "0.1.0"
