-- 0002 campaigns (sqlite): declared campaigns (campaign.create / campaign.update),
-- pay-for-success escrow, and the goods and payee kind a disbursement names.
CREATE TABLE "tracing_campaign_escrow" (
    "key" VARCHAR(150) NOT NULL PRIMARY KEY,
    "released" BIGINT NOT NULL,
    "released_all" INT NOT NULL,
    "attestations" INT NOT NULL,
    "last_attest_idx" BIGINT,
    "refund_idx" BIGINT,
    "refunded" BIGINT NOT NULL
) /* Pay for success: what the validator released (outcome.attest) and what was refunded. */;
CREATE TABLE "tracing_campaign_refund" (
    "id" VARCHAR(48) NOT NULL PRIMARY KEY,
    "refund_idx" BIGINT NOT NULL,
    "donation_idx" BIGINT NOT NULL,
    "campaign_key" VARCHAR(150) NOT NULL,
    "donor" VARCHAR(80) NOT NULL,
    "amount" BIGINT NOT NULL,
    "at" VARCHAR(24) NOT NULL
) /* One cash gift's pro-rata share of a pay-for-success refund (tracing.escrow). */;
CREATE INDEX "idx_tracing_cam_refund__cc0a49" ON "tracing_campaign_refund" ("refund_idx");
CREATE INDEX "idx_tracing_cam_donatio_34d305" ON "tracing_campaign_refund" ("donation_idx");
CREATE INDEX "idx_tracing_cam_campaig_25b66f" ON "tracing_campaign_refund" ("campaign_key");
CREATE INDEX "idx_tracing_cam_donor_4fc91c" ON "tracing_campaign_refund" ("donor");
CREATE TABLE "tracing_campaign_declared" (
    "key" VARCHAR(150) NOT NULL PRIMARY KEY,
    "slug" VARCHAR(64) NOT NULL,
    "charity" VARCHAR(80) NOT NULL,
    "title_zh" VARCHAR(200) NOT NULL,
    "title_en" VARCHAR(200) NOT NULL,
    "purpose" VARCHAR(200) NOT NULL,
    "category" VARCHAR(16) NOT NULL,
    "goal" BIGINT NOT NULL,
    "unit" VARCHAR(8) NOT NULL,
    "starts" VARCHAR(24) NOT NULL,
    "ends" VARCHAR(24),
    "beneficiary" VARCHAR(200) NOT NULL,
    "goods" VARCHAR(400) NOT NULL,
    "payees" VARCHAR(400) NOT NULL,
    "validator" VARCHAR(80),
    "outcome_deadline" VARCHAR(24),
    "created_idx" BIGINT NOT NULL,
    "updated_idx" BIGINT NOT NULL
) /* A campaign as its charity declared it; `updated_idx` is the last campaign.update. */;
CREATE INDEX "idx_tracing_cam_slug_7caed8" ON "tracing_campaign_declared" ("slug");
CREATE INDEX "idx_tracing_cam_charity_c3b856" ON "tracing_campaign_declared" ("charity");
CREATE TABLE "tracing_disbursement_kind" (
    "idx" BIGINT NOT NULL PRIMARY KEY,
    "campaign_key" VARCHAR(150) NOT NULL,
    "goods" VARCHAR(24),
    "payee_kind" VARCHAR(16)
) /* What a fund.disburse says it spent on, when it names a goods or payee kind. */;
CREATE INDEX "idx_tracing_dis_campaig_9f332f" ON "tracing_disbursement_kind" ("campaign_key");
