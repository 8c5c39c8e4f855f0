"""The store's schema migrations, applied in order by heartchain/migrate.py.

`NNNN_name.sqlite.sql` + `NNNN_name.postgres.sql`, or `NNNN_name.py` with `async def apply(conn)`.
An applied migration is never edited: a model change comes with the next number (tests/
test_migrations.py fails until the migrations build what the models describe).
"""
