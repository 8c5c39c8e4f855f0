-- 0002 rules (sqlite): the mutual-aid rule options (plan time zone, notice and deduction days,
-- per-year cap, age bands), the notice-day member set (period.notice) and what caps cut off.
-- New columns are nullable (no default in the models); existing rows get the defaults here.
ALTER TABLE "ma_plan" ADD COLUMN "time_zone" VARCHAR(64);
ALTER TABLE "ma_plan" ADD COLUMN "notice_days" VARCHAR(32);
ALTER TABLE "ma_plan" ADD COLUMN "deduction_days" VARCHAR(32);
ALTER TABLE "ma_plan" ADD COLUMN "year_cap_fen" BIGINT;
ALTER TABLE "ma_plan" ADD COLUMN "age_bands" TEXT;
UPDATE "ma_plan" SET "time_zone" = 'UTC', "notice_days" = '[]', "deduction_days" = '[]',
    "year_cap_fen" = 0, "age_bands" = '[]';
ALTER TABLE "ma_membership" ADD COLUMN "share_year" INT;
ALTER TABLE "ma_membership" ADD COLUMN "year_shared_fen" BIGINT;
UPDATE "ma_membership" SET "share_year" = 0, "year_shared_fen" = 0;
ALTER TABLE "ma_period" ADD COLUMN "notice_idx" BIGINT;
ALTER TABLE "ma_period" ADD COLUMN "cap_cut_fen" BIGINT;
ALTER TABLE "ma_period" ADD COLUMN "year_capped" INT;
ALTER TABLE "ma_period" ADD COLUMN "year_cut_fen" BIGINT;
-- What the per-case cap cut off each period, as period.apportion's projector now records it.
UPDATE "ma_period" SET "year_capped" = 0, "year_cut_fen" = 0,
    "cap_cut_fen" = CASE WHEN "members" > 0 THEN "members" * (("payouts_fen" + "fee_fen"
        + "carry_in_fen") / "members" - "share_fen") ELSE 0 END;
CREATE TABLE "ma_period_notice" (
    "idx" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "plan" VARCHAR(64) NOT NULL,
    "number" INT NOT NULL,
    "day" VARCHAR(10) NOT NULL,
    "snapshot_at" VARCHAR(24) NOT NULL,
    "members" INT NOT NULL,
    "member_root" VARCHAR(64) NOT NULL,
    "apportioned_idx" BIGINT,
    CONSTRAINT "uid_ma_period_n_plan_122ea9" UNIQUE ("plan", "number")
);
