-- 0006 rules (sqlite): nothing to do; PostgreSQL's ma_membership gets room for HOT updates
-- (see the postgres file). SQLite rewrites a row in place.
SELECT 1;
