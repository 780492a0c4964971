"""Analytics over the entity tables that ``medner batch`` writes (DuckDB)."""
