"""Where readings go: one module per output, all behind the small ``Sink`` contract
(``sinks.base``; not imported here, so ``decode`` can use ``sinks.formats`` without asyncio)."""
