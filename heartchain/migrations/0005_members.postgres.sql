-- members lane (issue 15): the wind-down of a plan, and the insurer or closed group it
-- operates under.
CREATE TABLE "ma_plan_closing" (
    "plan" VARCHAR(64) NOT NULL PRIMARY KEY,
    "close_idx" BIGINT NOT NULL,
    "announced_at" VARCHAR(24) NOT NULL,
    "last_notice" VARCHAR(24) NOT NULL,
    "claims_days" INT NOT NULL,
    "claims_until" VARCHAR(24) NOT NULL,
    "refund_from" VARCHAR(24) NOT NULL,
    "batches" INT NOT NULL,
    "refunded_fen" BIGINT NOT NULL,
    "refunded_members" INT NOT NULL,
    "closed_idx" BIGINT
);
COMMENT ON TABLE "ma_plan_closing" IS 'A plan being wound down (`plan.close`) and, once refunded (`plan.refund`), closed.';
CREATE TABLE "ma_plan_refund" (
    "id" VARCHAR(150) NOT NULL PRIMARY KEY,
    "plan" VARCHAR(64) NOT NULL,
    "member" VARCHAR(80) NOT NULL,
    "idx" BIGINT NOT NULL,
    "amount_fen" BIGINT NOT NULL
);
CREATE INDEX "idx_ma_plan_ref_plan_1c5b00" ON "ma_plan_refund" ("plan");
COMMENT ON TABLE "ma_plan_refund" IS 'One member''s refund at the end of a wind-down (a line of a `plan.refund` batch).';
CREATE TABLE "ma_plan_insurer" (
    "plan" VARCHAR(64) NOT NULL PRIMARY KEY,
    "operates_under" VARCHAR(100) NOT NULL,
    "idx" BIGINT NOT NULL
);
COMMENT ON TABLE "ma_plan_insurer" IS 'The licensed insurer or closed group a plan operates under (its own table: ma_plan stays as 0001 made it).';
