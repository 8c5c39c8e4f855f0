-- 0006 jury (sqlite): the member jury's tables (heartchain/mutualaid/jury_models.py).
CREATE TABLE "ma_juror" (
    "id" VARCHAR(150) NOT NULL PRIMARY KEY,
    "plan" VARCHAR(64) NOT NULL,
    "member" VARCHAR(80) NOT NULL,
    "active" INT NOT NULL,
    "qualified" INT NOT NULL,
    "volunteered_idx" BIGINT NOT NULL,
    "qualify_idx" BIGINT,
    "qualification_hash" VARCHAR(64)
) /* A volunteer juror of a plan (`juror.volunteer`) and their qualification. */;
CREATE INDEX "idx_ma_juror_member_bc7ae3" ON "ma_juror" ("member");
CREATE INDEX "idx_ma_juror_plan_5a4c4f" ON "ma_juror" ("plan", "qualified", "active");
CREATE TABLE "ma_jury" (
    "case" VARCHAR(64) NOT NULL PRIMARY KEY,
    "plan" VARCHAR(64) NOT NULL,
    "draw_idx" BIGINT NOT NULL,
    "drawn_at" VARCHAR(24) NOT NULL,
    "checkpoint_size" BIGINT NOT NULL,
    "checkpoint_root" VARCHAR(64) NOT NULL,
    "eligible" INT NOT NULL,
    "eligible_digest" VARCHAR(64) NOT NULL,
    "pool" TEXT NOT NULL,
    "size" INT NOT NULL,
    "quorum" INT NOT NULL,
    "majority_bp" INT NOT NULL,
    "commit_until" VARCHAR(24) NOT NULL,
    "reveal_until" VARCHAR(24) NOT NULL,
    "commits" INT NOT NULL,
    "approve_votes" INT NOT NULL,
    "reject_votes" INT NOT NULL
) /* The jury drawn for an objected case (`jury.draw`) and its running tally. */;
CREATE TABLE "ma_jury_rules" (
    "plan" VARCHAR(64) NOT NULL PRIMARY KEY,
    "size" INT NOT NULL,
    "quorum" INT NOT NULL,
    "majority_bp" INT NOT NULL,
    "commit_days" INT NOT NULL,
    "reveal_days" INT NOT NULL,
    "idx" BIGINT NOT NULL
) /* A plan's jury settings in force (`plan.jury`). */;
CREATE TABLE "ma_jury_seat" (
    "id" VARCHAR(150) NOT NULL PRIMARY KEY,
    "case" VARCHAR(64) NOT NULL,
    "juror" VARCHAR(80) NOT NULL,
    "rank" INT NOT NULL,
    "commitment" VARCHAR(64),
    "commit_idx" BIGINT,
    "vote" VARCHAR(8),
    "reveal_idx" BIGINT
) /* One drawn juror: their rank in the draw, commitment, and revealed vote. */;
CREATE INDEX "idx_ma_jury_sea_case_086767" ON "ma_jury_seat" ("case");
CREATE INDEX "idx_ma_jury_sea_juror_274122" ON "ma_jury_seat" ("juror");
CREATE TABLE "ma_member_link" (
    "id" VARCHAR(170) NOT NULL PRIMARY KEY,
    "low" VARCHAR(80) NOT NULL,
    "high" VARCHAR(80) NOT NULL,
    "declared_by" VARCHAR(80) NOT NULL,
    "idx" BIGINT NOT NULL
) /* A relation two members declared (`member.link`), once per unordered pair. */;
CREATE INDEX "idx_ma_member_l_low_3a294c" ON "ma_member_link" ("low");
CREATE INDEX "idx_ma_member_l_high_1d7c8b" ON "ma_member_link" ("high");
