-- 0002 records (sqlite): corrections (heartchain/corrections/models.py).
CREATE TABLE "correction" (
    "idx" BIGINT NOT NULL PRIMARY KEY,
    "target_idx" BIGINT NOT NULL,
    "target_kind" VARCHAR(64) NOT NULL,
    "signers" VARCHAR(200) NOT NULL,
    "reason" VARCHAR(24) NOT NULL,
    "note" VARCHAR(200),
    "changes" TEXT NOT NULL,
    "at" VARCHAR(24) NOT NULL
);
CREATE INDEX "idx_correction_target__b9ee50" ON "correction" ("target_idx");
