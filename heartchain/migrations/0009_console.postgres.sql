-- 0009 console (postgres): webhook endpoints, deliveries and attempts; disbursement receipt files.
-- All off-log operational data (verify does not rebuild them).
CREATE TABLE "webhook_attempt" (
    "id" BIGSERIAL NOT NULL PRIMARY KEY,
    "delivery_id" VARCHAR(64) NOT NULL,
    "endpoint_id" VARCHAR(32) NOT NULL,
    "idx" BIGINT NOT NULL,
    "at" VARCHAR(24) NOT NULL,
    "status_code" INT,
    "error" VARCHAR(200),
    "duration_ms" INT NOT NULL
);
CREATE INDEX "idx_webhook_att_deliver_85dea8" ON "webhook_attempt" ("delivery_id");
CREATE INDEX "idx_webhook_att_endpoin_39df6c" ON "webhook_attempt" ("endpoint_id");
CREATE TABLE "webhook_delivery" (
    "id" VARCHAR(64) NOT NULL PRIMARY KEY,
    "endpoint_id" VARCHAR(32) NOT NULL,
    "idx" BIGINT NOT NULL,
    "attempts" INT NOT NULL,
    "delivered_at" VARCHAR(24)
);
CREATE INDEX "idx_webhook_del_endpoin_36f7d0" ON "webhook_delivery" ("endpoint_id", "idx");
COMMENT ON TABLE "webhook_delivery" IS 'One entry sent (or being sent) to one endpoint; `id` is the receiver''s dedup key.';
CREATE TABLE "webhook_endpoint" (
    "id" VARCHAR(32) NOT NULL PRIMARY KEY,
    "owner" VARCHAR(80) NOT NULL,
    "url" VARCHAR(500) NOT NULL,
    "kinds" TEXT NOT NULL,
    "campaigns" TEXT NOT NULL,
    "secret_sealed" BYTEA NOT NULL,
    "created_at" VARCHAR(24) NOT NULL,
    "start_index" BIGINT NOT NULL,
    "next_index" BIGINT NOT NULL,
    "active" BOOL NOT NULL,
    "failures" INT NOT NULL,
    "retry_at" DOUBLE PRECISION,
    "lease_owner" VARCHAR(32),
    "lease_until" DOUBLE PRECISION
);
CREATE INDEX "idx_webhook_end_owner_67a30e" ON "webhook_endpoint" ("owner");
CREATE TABLE "receipt_file" (
    "id" VARCHAR(150) NOT NULL PRIMARY KEY,
    "sha256" VARCHAR(64) NOT NULL,
    "charity" VARCHAR(80) NOT NULL,
    "filename" VARCHAR(200) NOT NULL,
    "content_type" VARCHAR(100) NOT NULL,
    "size" BIGINT NOT NULL,
    "uploaded_at" VARCHAR(24) NOT NULL
);
CREATE INDEX "idx_receipt_fil_sha256_e0071d" ON "receipt_file" ("sha256");
CREATE INDEX "idx_receipt_fil_charity_8c9514" ON "receipt_file" ("charity");
