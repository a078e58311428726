"""The SQLite history: schema and writer (``store``), and the time expressions of queries."""
