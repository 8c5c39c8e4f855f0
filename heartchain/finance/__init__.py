"""Charity finance: bulk import of payment-provider exports, accounting exports.

- `money` (heartchain.money): exact yuan -> fen;
- `mappings.py`: which column of a provider's export is which field, kept per charity;
- `sheets.py`: rows out of a CSV or XLSX file; `rows.py`: one row checked into a gift or its
  problems;
- `importer.py`: the dry run and the import (all or nothing per chunk, idempotent per provider
  transaction); `exports.py`: donations, reversals and disbursements as CSV or XLSX, streamed;
- `http.py` (the console's upload and export routes), `cli.py` (`heartchain import`,
  `heartchain export`).
"""
