# tests/db: the chat handler's database layer against a real PostgreSQL.
