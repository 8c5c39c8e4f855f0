-- Bulk import (heartchain.finance): where an imported donation came from (a projection), and
-- each charity's column mappings (off-log configuration).
CREATE TABLE "heart_donation_reference" (
    "idx" BIGINT NOT NULL PRIMARY KEY,
    "charity" VARCHAR(80) NOT NULL,
    "reference" VARCHAR(64),
    "paid_at" VARCHAR(24),
    CONSTRAINT "uid_heart_donat_charity_7a95c5" UNIQUE ("charity", "reference")
) /* Where an imported `donation.record` came from: a keyed hash of the payment provider's */;
CREATE TABLE "finance_import_mapping" (
    "id" VARCHAR(150) NOT NULL PRIMARY KEY,
    "charity" VARCHAR(80) NOT NULL,
    "name" VARCHAR(64) NOT NULL,
    "columns" JSON NOT NULL,
    "updated_at" VARCHAR(24) NOT NULL
) /* A charity's column mapping for one kind of export: field -> the header it is under. */;
CREATE INDEX "idx_finance_imp_charity_f055d7" ON "finance_import_mapping" ("charity");
