-- 0011 transactions (postgres): imported gifts' provider transaction ids, off the log, for the
-- charity's accounting export (the log holds only their keyed hash).
CREATE TABLE "finance_import_transaction" (
    "reference" VARCHAR(64) NOT NULL PRIMARY KEY,
    "transaction_id" VARCHAR(128) NOT NULL
);
