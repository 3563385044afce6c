"""Storage: every statement, SQLite and PostgreSQL, the pool, batching, schema, ids."""
