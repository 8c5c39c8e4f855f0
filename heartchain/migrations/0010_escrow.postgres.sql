-- 0010 escrow (postgres): a pay-for-success refund burns the hearts of the refunded share of each gift.
ALTER TABLE "heart_donation" ADD COLUMN "refund_idx" BIGINT;
ALTER TABLE "heart_donation" ADD COLUMN "refund_hearts" BIGINT;
