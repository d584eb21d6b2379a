"""herald: an asyncio SMS campaign gateway speaking SMPP 3.4."""

__version__ = "0.1.0"
