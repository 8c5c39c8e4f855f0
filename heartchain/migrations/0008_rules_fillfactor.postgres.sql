-- 0006 rules (postgres): a period's balance UPDATE rewrites every covered member's row; with room
-- left on each page PostgreSQL keeps the new version beside the old (a HOT update: no index
-- entries written, as no indexed column changes), about 8x faster at 10^6 members
-- (bench/mutualaid.py). It applies to rows written from now on; `VACUUM FULL ma_membership`
-- repacks an existing store's.
ALTER TABLE "ma_membership" SET (fillfactor = 50);
