-- 0001 initial (postgres): the whole schema as Tortoise's generate_schemas made it at c14593c, the
-- last release before migrations. Frozen: never edit an applied migration; add the next one.
CREATE TABLE "log_checkpoint" (
    "size" BIGSERIAL NOT NULL PRIMARY KEY,
    "root_hash" BYTEA NOT NULL,
    "note" TEXT NOT NULL,
    "signed_at" VARCHAR(24) NOT NULL
);
COMMENT ON TABLE "log_checkpoint" IS 'Every checkpoint the log signed; none is ever replaced.';
CREATE TABLE "log_entry_signer" (
    "id" BIGSERIAL NOT NULL PRIMARY KEY,
    "address" VARCHAR(80) NOT NULL,
    "nonce" VARCHAR(32) NOT NULL,
    "idx" BIGINT NOT NULL,
    CONSTRAINT "uid_log_entry_s_nonce_042063" UNIQUE ("nonce", "address")
);
CREATE INDEX "idx_log_entry_s_idx_c016bb" ON "log_entry_signer" ("idx");
CREATE INDEX "idx_log_entry_s_address_8d426b" ON "log_entry_signer" ("address", "idx");
COMMENT ON TABLE "log_entry_signer" IS 'One row per signature: answers \"entries signed by X\" and refuses a replayed nonce.';
CREATE TABLE "log_entry" (
    "idx" BIGSERIAL NOT NULL PRIMARY KEY,
    "leaf_hash" BYTEA NOT NULL,
    "data" BYTEA NOT NULL,
    "kind" VARCHAR(64) NOT NULL,
    "at" VARCHAR(24) NOT NULL,
    "integrated_at" VARCHAR(24) NOT NULL
);
CREATE INDEX "idx_log_entry_kind_6ca761" ON "log_entry" ("kind");
CREATE TABLE "log_head" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "size" BIGINT NOT NULL,
    "root_hash" BYTEA NOT NULL
);
COMMENT ON TABLE "log_head" IS 'The single row (id 1) every integration locks, so several processes never fork the log.';
CREATE TABLE "log_tile" (
    "id" BIGSERIAL NOT NULL PRIMARY KEY,
    "level" SMALLINT NOT NULL,
    "idx" BIGINT NOT NULL,
    "data" BYTEA NOT NULL,
    CONSTRAINT "uid_log_tile_level_e57060" UNIQUE ("level", "idx")
);
CREATE TABLE "sealed_subject" (
    "subject_id" VARCHAR(128) NOT NULL PRIMARY KEY,
    "sealed_key" BYTEA NOT NULL,
    "created_at" VARCHAR(32) NOT NULL
);
COMMENT ON TABLE "sealed_subject" IS 'A subject''s data key, sealed under the master key. Deleting the row erases the subject.';
CREATE TABLE "sealed_value" (
    "id" BIGSERIAL NOT NULL PRIMARY KEY,
    "subject_id" VARCHAR(128) NOT NULL,
    "field" VARCHAR(64) NOT NULL,
    "sealed" BYTEA NOT NULL,
    CONSTRAINT "uid_sealed_valu_subject_d6af15" UNIQUE ("subject_id", "field")
);
CREATE INDEX "idx_sealed_valu_subject_521b3c" ON "sealed_value" ("subject_id");
COMMENT ON TABLE "sealed_value" IS 'One personal value, XChaCha20-Poly1305 under its subject''s key, bound to (subject, field).';
CREATE TABLE "account" (
    "address" VARCHAR(80) NOT NULL PRIMARY KEY,
    "role" VARCHAR(16) NOT NULL,
    "label" VARCHAR(100),
    "registrar" VARCHAR(80) NOT NULL,
    "registered_idx" BIGINT NOT NULL
);
CREATE INDEX "idx_account_role_05f2c0" ON "account" ("role");
CREATE TABLE "api_token" (
    "token_hash" VARCHAR(64) NOT NULL PRIMARY KEY,
    "address" VARCHAR(80) NOT NULL,
    "label" VARCHAR(100) NOT NULL,
    "created_at" VARCHAR(24) NOT NULL,
    "revoked" BOOL NOT NULL
);
CREATE INDEX "idx_api_token_address_6f1a49" ON "api_token" ("address");
CREATE TABLE "custodial_key" (
    "address" VARCHAR(80) NOT NULL PRIMARY KEY,
    "sealed" BYTEA NOT NULL
);
CREATE TABLE "heart_consent_handle" (
    "handle" VARCHAR(80) NOT NULL PRIMARY KEY,
    "member" VARCHAR(80) NOT NULL,
    "partner" VARCHAR(80) NOT NULL,
    CONSTRAINT "uid_heart_conse_member_246325" UNIQUE ("member", "partner")
);
COMMENT ON TABLE "heart_consent_handle" IS 'Off-log: which member a consent handle belongs to (one handle per member and partner).';
CREATE TABLE "heart_charity_donor" (
    "contact_index" VARCHAR(64) NOT NULL PRIMARY KEY,
    "address" VARCHAR(80) NOT NULL,
    "binding" VARCHAR(64) NOT NULL,
    "created_at" VARCHAR(32) NOT NULL
);
CREATE INDEX "idx_heart_chari_address_c66a15" ON "heart_charity_donor" ("address");
COMMENT ON TABLE "heart_charity_donor" IS 'Off-log: (recording charity, normalised phone or e-mail) -> that charity''s custodial donor.';
CREATE TABLE "heart_check" (
    "idx" BIGSERIAL NOT NULL PRIMARY KEY,
    "handle" VARCHAR(80) NOT NULL,
    "partner" VARCHAR(80) NOT NULL,
    "consent_idx" BIGINT,
    "commitment" VARCHAR(64) NOT NULL,
    "checked_at" VARCHAR(24) NOT NULL
);
CREATE INDEX "idx_heart_check_handle_04b2c9" ON "heart_check" ("handle", "idx");
COMMENT ON TABLE "heart_check" IS 'A `consent.check`: only the handle and a commitment; the member opens it off the log.';
CREATE TABLE "heart_consent" (
    "idx" BIGSERIAL NOT NULL PRIMARY KEY,
    "handle" VARCHAR(80) NOT NULL,
    "partner" VARCHAR(80) NOT NULL,
    "scope" VARCHAR(32) NOT NULL,
    "expires_at" VARCHAR(24) NOT NULL,
    "granted_at" VARCHAR(24) NOT NULL,
    "revoked_idx" BIGINT
);
CREATE INDEX "idx_heart_conse_partner_d6925c" ON "heart_consent" ("partner");
CREATE INDEX "idx_heart_conse_handle_4ba4d3" ON "heart_consent" ("handle", "partner");
COMMENT ON TABLE "heart_consent" IS 'A `consent.grant` by a pseudonymous handle; which member a handle is, is off the log.';
CREATE TABLE "heart_donation" (
    "idx" BIGSERIAL NOT NULL PRIMARY KEY,
    "charity" VARCHAR(80) NOT NULL,
    "donor" VARCHAR(80) NOT NULL,
    "kind" VARCHAR(8) NOT NULL,
    "quantity" BIGINT NOT NULL,
    "campaign" VARCHAR(64) NOT NULL,
    "receipt" VARCHAR(64),
    "hearts" BIGINT NOT NULL,
    "rate_version" INT NOT NULL,
    "recorded_at" VARCHAR(24) NOT NULL,
    "reversed_idx" BIGINT,
    "reversal_reason" VARCHAR(16)
);
CREATE INDEX "idx_heart_donat_campaig_073f99" ON "heart_donation" ("campaign");
CREATE INDEX "idx_heart_donat_donor_9730a0" ON "heart_donation" ("donor", "idx");
CREATE INDEX "idx_heart_donat_charity_6fb3d3" ON "heart_donation" ("charity", "idx");
CREATE INDEX "idx_heart_donat_donor_5ce21f" ON "heart_donation" ("donor", "reversed_idx");
CREATE TABLE "heart_rate_version" (
    "version" SERIAL NOT NULL PRIMARY KEY,
    "idx" BIGINT NOT NULL,
    "set_by" VARCHAR(80) NOT NULL,
    "cash_hearts" BIGINT NOT NULL,
    "cash_per" BIGINT NOT NULL,
    "food_hearts" BIGINT NOT NULL,
    "food_per" BIGINT NOT NULL,
    "tree_hearts" BIGINT NOT NULL,
    "tree_per" BIGINT NOT NULL
);
COMMENT ON TABLE "heart_rate_version" IS 'One `heart.rates` entry: hearts = quantity * hearts_per / per_quantity, rounded down.';
CREATE TABLE "heart_score" (
    "address" VARCHAR(80) NOT NULL PRIMARY KEY,
    "total" BIGINT NOT NULL,
    "cash" BIGINT NOT NULL,
    "food" BIGINT NOT NULL,
    "tree" BIGINT NOT NULL,
    "minted" BIGINT NOT NULL,
    "burned" BIGINT NOT NULL,
    "gifts" INT NOT NULL,
    "reversals" INT NOT NULL,
    "last_idx" BIGINT NOT NULL
);
COMMENT ON TABLE "heart_score" IS 'A donor''s hearts: minted minus burned, in total and per donation kind.';
CREATE TABLE "heart_donor_contact" (
    "contact_hash" VARCHAR(64) NOT NULL PRIMARY KEY,
    "address" VARCHAR(80) NOT NULL,
    "created_at" VARCHAR(32) NOT NULL
);
CREATE INDEX "idx_heart_donor_address_abd86f" ON "heart_donor_contact" ("address");
COMMENT ON TABLE "heart_donor_contact" IS 'Off-log, read only: the one mapping shared by all charities, before per-charity donors.';
CREATE TABLE "heart_member_session" (
    "token_hash" VARCHAR(64) NOT NULL PRIMARY KEY,
    "csrf" VARCHAR(64) NOT NULL,
    "addresses" JSONB NOT NULL,
    "expires_at" VARCHAR(24) NOT NULL
);
COMMENT ON TABLE "heart_member_session" IS 'Off-log: a signed-in donor. `addresses` are the donor addresses of the contact.';
CREATE TABLE "heart_signin_code" (
    "contact_hash" VARCHAR(64) NOT NULL PRIMARY KEY,
    "code_hash" VARCHAR(64) NOT NULL,
    "sent_at" VARCHAR(24) NOT NULL,
    "expires_at" VARCHAR(24) NOT NULL,
    "attempts" INT NOT NULL
);
COMMENT ON TABLE "heart_signin_code" IS 'Off-log: the current one-time code of a contact (keyed hashes only).';
CREATE TABLE "tracing_allocation" (
    "id" VARCHAR(48) NOT NULL PRIMARY KEY,
    "disbursement_idx" BIGINT NOT NULL,
    "donation_idx" BIGINT NOT NULL,
    "amount" BIGINT NOT NULL
);
CREATE INDEX "idx_tracing_all_disburs_9b6350" ON "tracing_allocation" ("disbursement_idx");
CREATE INDEX "idx_tracing_all_donatio_30463d" ON "tracing_allocation" ("donation_idx");
CREATE TABLE "tracing_campaign" (
    "key" VARCHAR(150) NOT NULL PRIMARY KEY,
    "slug" VARCHAR(64) NOT NULL,
    "charity" VARCHAR(80) NOT NULL,
    "donated" BIGINT NOT NULL,
    "reversed" BIGINT NOT NULL,
    "disbursed" BIGINT NOT NULL,
    "balance" BIGINT NOT NULL,
    "first_idx" BIGINT NOT NULL
);
CREATE INDEX "idx_tracing_cam_slug_7fc7a4" ON "tracing_campaign" ("slug");
COMMENT ON TABLE "tracing_campaign" IS 'A charity''s campaign cash: balance = donated − reversed − disbursed, always.';
CREATE TABLE "tracing_disbursement" (
    "idx" BIGINT NOT NULL PRIMARY KEY,
    "campaign_key" VARCHAR(150) NOT NULL,
    "charity" VARCHAR(80) NOT NULL,
    "amount" BIGINT NOT NULL,
    "payee" VARCHAR(100) NOT NULL,
    "purpose" VARCHAR(200) NOT NULL,
    "receipt" VARCHAR(64) NOT NULL,
    "at" VARCHAR(24) NOT NULL
);
CREATE INDEX "idx_tracing_dis_campaig_5d38f4" ON "tracing_disbursement" ("campaign_key");
CREATE TABLE "tracing_handover_offer" (
    "id" VARCHAR(32) NOT NULL PRIMARY KEY,
    "lot_id" VARCHAR(24) NOT NULL,
    "giver" VARCHAR(80) NOT NULL,
    "taker" VARCHAR(80) NOT NULL,
    "data" BYTEA NOT NULL,
    "created_at" VARCHAR(24) NOT NULL,
    "accepted_idx" BIGINT
);
CREATE INDEX "idx_tracing_han_lot_id_af8629" ON "tracing_handover_offer" ("lot_id");
CREATE INDEX "idx_tracing_han_taker_fbb7db" ON "tracing_handover_offer" ("taker");
COMMENT ON TABLE "tracing_handover_offer" IS 'Off-log: a lot.handover entry signed by the giver, waiting for the taker''s signature.';
CREATE TABLE "tracing_lot" (
    "id" VARCHAR(24) NOT NULL PRIMARY KEY,
    "code" VARCHAR(8) NOT NULL,
    "created_idx" BIGINT NOT NULL,
    "origin" VARCHAR(8) NOT NULL,
    "donation_idx" BIGINT,
    "receipt" VARCHAR(64),
    "disbursement_idx" BIGINT,
    "goods" VARCHAR(200) NOT NULL,
    "unit" VARCHAR(8) NOT NULL,
    "initial_quantity" BIGINT NOT NULL,
    "quantity" BIGINT NOT NULL,
    "charity" VARCHAR(80) NOT NULL,
    "custodian" VARCHAR(80) NOT NULL,
    "status" VARCHAR(10) NOT NULL,
    "place" VARCHAR(200),
    "updated_idx" BIGINT NOT NULL
);
CREATE INDEX "idx_tracing_lot_created_710eb5" ON "tracing_lot" ("created_idx");
CREATE INDEX "idx_tracing_lot_donatio_f2cf4f" ON "tracing_lot" ("donation_idx");
CREATE INDEX "idx_tracing_lot_charity_579ae8" ON "tracing_lot" ("charity");
CREATE INDEX "idx_tracing_lot_custodi_ee8123" ON "tracing_lot" ("custodian");
CREATE INDEX "idx_tracing_lot_status_e20761" ON "tracing_lot" ("status");
CREATE TABLE "tracing_lot_event" (
    "id" VARCHAR(48) NOT NULL PRIMARY KEY,
    "idx" BIGINT NOT NULL,
    "lot_id" VARCHAR(24) NOT NULL,
    "action" VARCHAR(12) NOT NULL,
    "quantity" BIGINT NOT NULL,
    "moved" BIGINT NOT NULL,
    "giver" VARCHAR(80),
    "custodian" VARCHAR(80) NOT NULL,
    "place" VARCHAR(200),
    "evidence" VARCHAR(64),
    "reason" VARCHAR(200),
    "beneficiary" VARCHAR(64),
    "related" VARCHAR(4000),
    "at" VARCHAR(24) NOT NULL
);
CREATE INDEX "idx_tracing_lot_idx_4bf7b5" ON "tracing_lot_event" ("idx");
CREATE INDEX "idx_tracing_lot_lot_id_1e6bc8" ON "tracing_lot_event" ("lot_id");
COMMENT ON TABLE "tracing_lot_event" IS 'One step in a lot''s timeline; one entry may add a step to several lots.';
CREATE TABLE "tracing_lot_share" (
    "id" VARCHAR(48) NOT NULL PRIMARY KEY,
    "lot_id" VARCHAR(24) NOT NULL,
    "origin_idx" BIGINT NOT NULL,
    "quantity" BIGINT NOT NULL
);
CREATE INDEX "idx_tracing_lot_lot_id_7d9749" ON "tracing_lot_share" ("lot_id");
CREATE INDEX "idx_tracing_lot_origin__e91b36" ON "tracing_lot_share" ("origin_idx");
CREATE TABLE "tracing_origin_flow" (
    "id" VARCHAR(32) NOT NULL PRIMARY KEY,
    "idx" BIGINT NOT NULL,
    "origin_idx" BIGINT NOT NULL,
    "action" VARCHAR(12) NOT NULL,
    "from_lot" VARCHAR(24),
    "to_lot" VARCHAR(24),
    "quantity" BIGINT NOT NULL
);
CREATE INDEX "idx_tracing_ori_idx_498bd9" ON "tracing_origin_flow" ("idx");
CREATE INDEX "idx_tracing_ori_origin__61b173" ON "tracing_origin_flow" ("origin_idx");
COMMENT ON TABLE "tracing_origin_flow" IS 'Units of one origin moving: into a lot (create), between lots, or out (loss, delivery).';
CREATE TABLE "tracing_donation" (
    "idx" BIGINT NOT NULL PRIMARY KEY,
    "campaign_key" VARCHAR(150) NOT NULL,
    "campaign" VARCHAR(64) NOT NULL,
    "charity" VARCHAR(80) NOT NULL,
    "donor" VARCHAR(80) NOT NULL,
    "kind" VARCHAR(16) NOT NULL,
    "quantity" BIGINT NOT NULL,
    "reversed" BIGINT NOT NULL,
    "used" BIGINT NOT NULL,
    "reversed_idx" BIGINT,
    "reversed_at" VARCHAR(24),
    "at" VARCHAR(24) NOT NULL
);
CREATE INDEX "idx_tracing_don_campaig_bc443b" ON "tracing_donation" ("campaign_key");
CREATE INDEX "idx_tracing_don_donor_bc1d59" ON "tracing_donation" ("donor");
COMMENT ON TABLE "tracing_donation" IS 'Every donation.record as tracing sees it: how much is left to dispatch or spend.';
CREATE TABLE "ma_case" (
    "id" VARCHAR(64) NOT NULL PRIMARY KEY,
    "plan" VARCHAR(64) NOT NULL,
    "member" VARCHAR(80) NOT NULL,
    "opener" VARCHAR(80) NOT NULL,
    "condition" VARCHAR(64) NOT NULL,
    "asked_fen" BIGINT NOT NULL,
    "hospital" VARCHAR(64) NOT NULL,
    "masked_name" VARCHAR(16) NOT NULL,
    "age_band" VARCHAR(8) NOT NULL,
    "diagnosed_on" VARCHAR(10) NOT NULL,
    "details_commitment" VARCHAR(64) NOT NULL,
    "rules_version" INT NOT NULL,
    "cap_fen" BIGINT NOT NULL,
    "status" VARCHAR(10) NOT NULL,
    "opened_idx" BIGINT NOT NULL,
    "opened_at" VARCHAR(24) NOT NULL,
    "attest_idx" BIGINT,
    "investigator" VARCHAR(80),
    "findings_hash" VARCHAR(64),
    "recommendation" VARCHAR(8),
    "recommended_fen" BIGINT,
    "notice_idx" BIGINT,
    "notice_days" INT,
    "notice_from" VARCHAR(24),
    "notice_until" VARCHAR(24),
    "objections" INT NOT NULL,
    "last_objection_idx" BIGINT,
    "review_idx" BIGINT,
    "review_outcome" VARCHAR(10),
    "decide_idx" BIGINT,
    "decision" VARCHAR(8),
    "approved_fen" BIGINT,
    "decision_reason" VARCHAR(32),
    "period_idx" BIGINT
);
CREATE INDEX "idx_ma_case_plan_9d7a49" ON "ma_case" ("plan");
CREATE INDEX "idx_ma_case_member_2bcbf9" ON "ma_case" ("member");
CREATE INDEX "idx_ma_case_status_3d3660" ON "ma_case" ("status");
CREATE TABLE "ma_case_proxy" (
    "id" VARCHAR(230) NOT NULL PRIMARY KEY,
    "plan" VARCHAR(64) NOT NULL,
    "member" VARCHAR(80) NOT NULL,
    "proxy" VARCHAR(80) NOT NULL,
    "active" BOOL NOT NULL,
    "granted_idx" BIGINT NOT NULL,
    "revoked_idx" BIGINT
);
CREATE INDEX "idx_ma_case_pro_member_ad8752" ON "ma_case_proxy" ("member");
COMMENT ON TABLE "ma_case_proxy" IS 'A family member a member authorised (`plan.proxy`) to open cases for them in a plan.';
CREATE TABLE "ma_hospital" (
    "code" VARCHAR(64) NOT NULL PRIMARY KEY,
    "name_zh" VARCHAR(100) NOT NULL,
    "name_en" VARCHAR(100) NOT NULL,
    "listed" BOOL NOT NULL,
    "registered_idx" BIGINT NOT NULL,
    "updated_idx" BIGINT NOT NULL
);
COMMENT ON TABLE "ma_hospital" IS 'A hospital the operator vetted (`hospital.register`): cases name it by code.';
CREATE TABLE "ma_membership" (
    "id" VARCHAR(150) NOT NULL PRIMARY KEY,
    "plan" VARCHAR(64) NOT NULL,
    "member" VARCHAR(80) NOT NULL,
    "status" VARCHAR(8) NOT NULL,
    "joined_idx" BIGINT NOT NULL,
    "joined_at" VARCHAR(24) NOT NULL,
    "covered_from" VARCHAR(24) NOT NULL,
    "join_version" INT NOT NULL,
    "age_years" INT NOT NULL,
    "birth_commitment" VARCHAR(64) NOT NULL,
    "balance_fen" BIGINT NOT NULL,
    "prepaid_fen" BIGINT NOT NULL,
    "shared_fen" BIGINT NOT NULL,
    "lapsed_idx" BIGINT,
    "left_idx" BIGINT,
    "refund_fen" BIGINT NOT NULL
);
CREATE INDEX "idx_ma_membersh_member_18f0bd" ON "ma_membership" ("member");
CREATE INDEX "idx_ma_membersh_plan_d7c925" ON "ma_membership" ("plan", "status", "covered_from");
CREATE INDEX "ma_membership_plan_joined" ON "ma_membership" ("plan", "joined_idx");
CREATE TABLE "ma_objection" (
    "idx" BIGSERIAL NOT NULL PRIMARY KEY,
    "case" VARCHAR(64) NOT NULL,
    "member" VARCHAR(80) NOT NULL,
    "reason" VARCHAR(32) NOT NULL,
    "note_commitment" VARCHAR(64)
);
CREATE INDEX "idx_ma_objectio_case_8fec65" ON "ma_objection" ("case");
CREATE TABLE "ma_payment" (
    "idx" BIGSERIAL NOT NULL PRIMARY KEY,
    "plan" VARCHAR(64) NOT NULL,
    "member" VARCHAR(80) NOT NULL,
    "amount_fen" BIGINT NOT NULL,
    "kind" VARCHAR(8) NOT NULL
);
CREATE INDEX "idx_ma_payment_member_d87d7e" ON "ma_payment" ("member");
COMMENT ON TABLE "ma_payment" IS 'A prepayment: the joining deposit or a top-up.';
CREATE TABLE "ma_period" (
    "idx" BIGSERIAL NOT NULL PRIMARY KEY,
    "plan" VARCHAR(64) NOT NULL,
    "number" INT NOT NULL,
    "at" VARCHAR(24) NOT NULL,
    "cases" TEXT NOT NULL,
    "payouts_fen" BIGINT NOT NULL,
    "fee_fen" BIGINT NOT NULL,
    "carry_in_fen" BIGINT NOT NULL,
    "members" INT NOT NULL,
    "share_fen" BIGINT NOT NULL,
    "collected_fen" BIGINT NOT NULL,
    "carry_fen" BIGINT NOT NULL,
    "lapsed" INT NOT NULL,
    "share_root" VARCHAR(64) NOT NULL,
    CONSTRAINT "uid_ma_period_plan_5758bc" UNIQUE ("plan", "number")
);
CREATE TABLE "ma_plan" (
    "id" VARCHAR(64) NOT NULL PRIMARY KEY,
    "name" VARCHAR(100) NOT NULL,
    "version" INT NOT NULL,
    "operator" VARCHAR(80) NOT NULL,
    "created_idx" BIGINT NOT NULL,
    "version_idx" BIGINT NOT NULL,
    "min_age_days" INT NOT NULL,
    "max_age_years" INT NOT NULL,
    "waiting_days" INT NOT NULL,
    "cap_fen" BIGINT NOT NULL,
    "senior_age" INT NOT NULL,
    "senior_cap_fen" BIGINT NOT NULL,
    "fee_bp" INT NOT NULL,
    "member_case_cap_fen" BIGINT NOT NULL,
    "min_prepay_fen" BIGINT NOT NULL,
    "conditions" TEXT NOT NULL,
    "carry_fen" BIGINT NOT NULL,
    "periods" INT NOT NULL
);
COMMENT ON TABLE "ma_plan" IS 'A plan with its rules in force (the latest version).';
CREATE TABLE "ma_plan_version" (
    "idx" BIGSERIAL NOT NULL PRIMARY KEY,
    "plan" VARCHAR(64) NOT NULL,
    "version" INT NOT NULL,
    "rules" TEXT NOT NULL
);
CREATE INDEX "idx_ma_plan_ver_plan_4426e4" ON "ma_plan_version" ("plan");
COMMENT ON TABLE "ma_plan_version" IS 'Every version of a plan''s rules, from the log position of its entry on.';
CREATE TABLE "ma_review" (
    "idx" BIGSERIAL NOT NULL PRIMARY KEY,
    "case" VARCHAR(64) NOT NULL,
    "reviewer" VARCHAR(80) NOT NULL,
    "findings_hash" VARCHAR(64) NOT NULL,
    "outcome" VARCHAR(10) NOT NULL
);
CREATE INDEX "idx_ma_review_case_a2e2b5" ON "ma_review" ("case");
CREATE TABLE "ma_share_page" (
    "id" VARCHAR(40) NOT NULL PRIMARY KEY,
    "period_idx" BIGINT NOT NULL,
    "page" INT NOT NULL,
    "first_joined" BIGINT NOT NULL,
    "leaves" BYTEA NOT NULL
);
CREATE INDEX "idx_ma_share_pa_period__9e14a1" ON "ma_share_page" ("period_idx", "first_joined");
COMMENT ON TABLE "ma_share_page" IS '256 consecutive leaves of a period''s share tree (the last page may hold fewer): each leaf''s';
CREATE TABLE "ma_share_tile" (
    "id" VARCHAR(40) NOT NULL PRIMARY KEY,
    "period_idx" BIGINT NOT NULL,
    "data" BYTEA NOT NULL
);
CREATE INDEX "idx_ma_share_ti_period__74b59a" ON "ma_share_tile" ("period_idx");
COMMENT ON TABLE "ma_share_tile" IS 'Share-tree tiles at levels 8, 16, ... (C2SP tlog-tiles layout), for members'' proofs; the';
CREATE TABLE "witness_cosignature" (
    "id" BIGSERIAL NOT NULL PRIMARY KEY,
    "size" BIGINT NOT NULL,
    "witness" VARCHAR(255) NOT NULL,
    "line" TEXT NOT NULL,
    "timestamp" BIGINT NOT NULL,
    "received_at" TIMESTAMPTZ NOT NULL,
    "mac" BYTEA NOT NULL,
    CONSTRAINT "uid_witness_cos_size_1bc86c" UNIQUE ("size", "witness")
);
CREATE INDEX "idx_witness_cos_witness_70b4f8" ON "witness_cosignature" ("witness", "size");
COMMENT ON TABLE "witness_cosignature" IS 'A witness''s cosignature/v1 line over the checkpoint the log signed at `size`.';
CREATE TABLE "witness_refusal" (
    "id" BIGSERIAL NOT NULL PRIMARY KEY,
    "witness" VARCHAR(255) NOT NULL,
    "size" BIGINT NOT NULL,
    "old_size" BIGINT NOT NULL,
    "status" INT NOT NULL,
    "body" TEXT NOT NULL,
    "at" TIMESTAMPTZ NOT NULL,
    "mac" BYTEA NOT NULL
);
CREATE INDEX "idx_witness_ref_witness_728e0e" ON "witness_refusal" ("witness", "id");
COMMENT ON TABLE "witness_refusal" IS 'A witness refused a checkpoint (or could not be reached: status 0): the evidence.';