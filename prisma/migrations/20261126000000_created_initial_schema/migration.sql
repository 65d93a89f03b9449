-- CreateSchema
CREATE SCHEMA IF NOT EXISTS "public";

-- CreateEnum
CREATE TYPE "AdminRole" AS ENUM ('admin', 'viewer');

-- CreateEnum
CREATE TYPE "SiteStatus" AS ENUM ('pending', 'approved', 'rejected', 'revoked');

-- CreateEnum
CREATE TYPE "SiteKeyStatus" AS ENUM ('active', 'rotated', 'revoked');

-- CreateEnum
CREATE TYPE "TaskStatus" AS ENUM ('proposed', 'approved', 'rejected', 'retired');

-- CreateEnum
CREATE TYPE "AdapterVersionStatus" AS ENUM ('pending', 'approved', 'rejected');

-- CreateEnum
CREATE TYPE "UploadSessionStatus" AS ENUM ('open', 'completed', 'aborted', 'expired');

-- CreateEnum
CREATE TYPE "SigningKeyStatus" AS ENUM ('pending', 'active', 'retired', 'revoked');

-- CreateEnum
CREATE TYPE "AuditActorType" AS ENUM ('admin', 'site', 'system', 'anonymous');

-- CreateEnum
CREATE TYPE "AuditOutcome" AS ENUM ('success', 'denied');

-- CreateTable
CREATE TABLE "admins" (
    "id" UUID NOT NULL,
    "email" VARCHAR(320) NOT NULL,
    "password_hash" VARCHAR(255) NOT NULL,
    "role" "AdminRole" NOT NULL,
    "disabled_at" TIMESTAMPTZ(3),
    "last_login_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "admins_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "sites" (
    "id" UUID NOT NULL,
    "name" VARCHAR(200) NOT NULL,
    "status" "SiteStatus" NOT NULL DEFAULT 'pending',
    "status_reason" VARCHAR(2000),
    "decided_by_id" UUID,
    "decided_at" TIMESTAMPTZ(3),
    "last_seen_at" TIMESTAMPTZ(3),
    "last_seen_address" VARCHAR(100),
    "agent_version" VARCHAR(50),
    "protocol_version" VARCHAR(20),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "sites_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "enrollment_tokens" (
    "id" UUID NOT NULL,
    "token_hash" CHAR(64) NOT NULL,
    "label" VARCHAR(200),
    "created_by_id" UUID NOT NULL,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "used_at" TIMESTAMPTZ(3),
    "used_by_site_id" UUID,
    "revoked_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "enrollment_tokens_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "site_keys" (
    "id" UUID NOT NULL,
    "site_id" UUID NOT NULL,
    "fingerprint" VARCHAR(64) NOT NULL,
    "public_jwk" JSONB NOT NULL,
    "algorithm" VARCHAR(20) NOT NULL DEFAULT 'EdDSA',
    "status" "SiteKeyStatus" NOT NULL DEFAULT 'active',
    "not_before" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "not_after" TIMESTAMPTZ(3),
    "rotated_at" TIMESTAMPTZ(3),
    "revoked_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "site_keys_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "used_token_ids" (
    "jti" VARCHAR(200) NOT NULL,
    "subject" VARCHAR(200) NOT NULL,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "used_token_ids_pkey" PRIMARY KEY ("jti")
);

-- CreateTable
CREATE TABLE "tasks" (
    "id" UUID NOT NULL,
    "name" VARCHAR(200) NOT NULL,
    "modality" VARCHAR(50) NOT NULL,
    "target_structures" TEXT[],
    "base_model_fingerprint" VARCHAR(128) NOT NULL,
    "status" "TaskStatus" NOT NULL DEFAULT 'proposed',
    "status_reason" VARCHAR(2000),
    "decided_by_id" UUID,
    "decided_at" TIMESTAMPTZ(3),
    "proposed_by_site_id" UUID NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "tasks_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "task_contributors" (
    "task_id" UUID NOT NULL,
    "site_id" UUID NOT NULL,
    "added_by_id" UUID,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "task_contributors_pkey" PRIMARY KEY ("task_id","site_id")
);

-- CreateTable
CREATE TABLE "adapter_versions" (
    "id" UUID NOT NULL,
    "task_id" UUID NOT NULL,
    "site_id" UUID NOT NULL,
    "version" INTEGER NOT NULL,
    "al_blob_hash" CHAR(64) NOT NULL,
    "vae_blob_hash" CHAR(64) NOT NULL,
    "tau_stats" JSONB NOT NULL,
    "metrics" JSONB NOT NULL,
    "base_model_fingerprint" VARCHAR(128) NOT NULL,
    "signed_by_key_id" UUID,
    "signature" TEXT,
    "status" "AdapterVersionStatus" NOT NULL DEFAULT 'pending',
    "status_reason" VARCHAR(2000),
    "decided_by_id" UUID,
    "decided_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "adapter_versions_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "upload_sessions" (
    "id" UUID NOT NULL,
    "site_id" UUID NOT NULL,
    "task_id" UUID,
    "purpose" VARCHAR(50) NOT NULL,
    "total_size" BIGINT NOT NULL,
    "sha256" CHAR(64) NOT NULL,
    "chunk_size" INTEGER NOT NULL,
    "chunk_count" INTEGER NOT NULL,
    "metadata" JSONB NOT NULL DEFAULT '{}',
    "status" "UploadSessionStatus" NOT NULL DEFAULT 'open',
    "status_reason" VARCHAR(2000),
    "result_hash" CHAR(64),
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "completed_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "upload_sessions_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "upload_chunks" (
    "session_id" UUID NOT NULL,
    "index" INTEGER NOT NULL,
    "size" INTEGER NOT NULL,
    "sha256" CHAR(64) NOT NULL,
    "received_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "upload_chunks_pkey" PRIMARY KEY ("session_id","index")
);

-- CreateTable
CREATE TABLE "blobs" (
    "hash" CHAR(64) NOT NULL,
    "size" BIGINT NOT NULL,
    "store" VARCHAR(20) NOT NULL,
    "media_type" VARCHAR(100),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "blobs_pkey" PRIMARY KEY ("hash")
);

-- CreateTable
CREATE TABLE "stored_blobs" (
    "hash" CHAR(64) NOT NULL,
    "size" BIGINT NOT NULL,
    "part_count" INTEGER NOT NULL,
    "part_size" INTEGER NOT NULL,
    "staging_id" UUID NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "stored_blobs_pkey" PRIMARY KEY ("hash")
);

-- CreateTable
CREATE TABLE "stored_blob_parts" (
    "staging_id" UUID NOT NULL,
    "index" INTEGER NOT NULL,
    "data" BYTEA NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "stored_blob_parts_pkey" PRIMARY KEY ("staging_id","index")
);

-- CreateTable
CREATE TABLE "signing_keys" (
    "id" UUID NOT NULL,
    "kid" VARCHAR(64) NOT NULL,
    "algorithm" VARCHAR(20) NOT NULL DEFAULT 'EdDSA',
    "public_jwk" JSONB NOT NULL,
    "private_jwk_sealed" TEXT,
    "status" "SigningKeyStatus" NOT NULL DEFAULT 'pending',
    "activated_at" TIMESTAMPTZ(3),
    "retired_at" TIMESTAMPTZ(3),
    "revoked_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "signing_keys_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "router_bundles" (
    "id" UUID NOT NULL,
    "version" INTEGER NOT NULL,
    "protocol_version" VARCHAR(20) NOT NULL,
    "base_model_fingerprint" VARCHAR(128) NOT NULL,
    "manifest" JSONB NOT NULL,
    "jws" TEXT NOT NULL,
    "content_hash" CHAR(64) NOT NULL,
    "signing_key_id" UUID NOT NULL,
    "built_by_id" UUID,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "router_bundles_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "audit_events" (
    "id" UUID NOT NULL,
    "actor_type" "AuditActorType" NOT NULL,
    "actor_id" VARCHAR(200),
    "action" VARCHAR(100) NOT NULL,
    "outcome" "AuditOutcome" NOT NULL DEFAULT 'success',
    "target_type" VARCHAR(50),
    "target_id" VARCHAR(200),
    "site_id" UUID,
    "address" VARCHAR(100),
    "correlation_id" VARCHAR(100),
    "details" JSONB NOT NULL DEFAULT '{}',
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "audit_events_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "admins_email_key" ON "admins"("email");

-- CreateIndex
CREATE INDEX "admins_role_idx" ON "admins"("role");

-- CreateIndex
CREATE UNIQUE INDEX "sites_name_key" ON "sites"("name");

-- CreateIndex
CREATE INDEX "sites_status_idx" ON "sites"("status");

-- CreateIndex
CREATE INDEX "sites_last_seen_at_idx" ON "sites"("last_seen_at");

-- CreateIndex
CREATE UNIQUE INDEX "enrollment_tokens_token_hash_key" ON "enrollment_tokens"("token_hash");

-- CreateIndex
CREATE UNIQUE INDEX "enrollment_tokens_used_by_site_id_key" ON "enrollment_tokens"("used_by_site_id");

-- CreateIndex
CREATE INDEX "enrollment_tokens_expires_at_idx" ON "enrollment_tokens"("expires_at");

-- CreateIndex
CREATE INDEX "enrollment_tokens_created_by_id_idx" ON "enrollment_tokens"("created_by_id");

-- CreateIndex
CREATE UNIQUE INDEX "site_keys_fingerprint_key" ON "site_keys"("fingerprint");

-- CreateIndex
CREATE INDEX "site_keys_site_id_status_idx" ON "site_keys"("site_id", "status");

-- CreateIndex
CREATE INDEX "used_token_ids_expires_at_idx" ON "used_token_ids"("expires_at");

-- CreateIndex
CREATE INDEX "tasks_status_idx" ON "tasks"("status");

-- CreateIndex
CREATE INDEX "tasks_base_model_fingerprint_status_idx" ON "tasks"("base_model_fingerprint", "status");

-- CreateIndex
CREATE UNIQUE INDEX "tasks_proposed_by_site_id_name_key" ON "tasks"("proposed_by_site_id", "name");

-- CreateIndex
CREATE INDEX "task_contributors_site_id_idx" ON "task_contributors"("site_id");

-- CreateIndex
CREATE INDEX "adapter_versions_task_id_status_idx" ON "adapter_versions"("task_id", "status");

-- CreateIndex
CREATE INDEX "adapter_versions_site_id_idx" ON "adapter_versions"("site_id");

-- CreateIndex
CREATE INDEX "adapter_versions_status_idx" ON "adapter_versions"("status");

-- CreateIndex
CREATE UNIQUE INDEX "adapter_versions_task_id_version_key" ON "adapter_versions"("task_id", "version");

-- CreateIndex
CREATE INDEX "upload_sessions_site_id_status_idx" ON "upload_sessions"("site_id", "status");

-- CreateIndex
CREATE INDEX "upload_sessions_status_expires_at_idx" ON "upload_sessions"("status", "expires_at");

-- CreateIndex
CREATE INDEX "upload_chunks_sha256_idx" ON "upload_chunks"("sha256");

-- CreateIndex
CREATE INDEX "blobs_created_at_idx" ON "blobs"("created_at");

-- CreateIndex
CREATE UNIQUE INDEX "stored_blobs_staging_id_key" ON "stored_blobs"("staging_id");

-- CreateIndex
CREATE INDEX "stored_blob_parts_created_at_idx" ON "stored_blob_parts"("created_at");

-- CreateIndex
CREATE UNIQUE INDEX "signing_keys_kid_key" ON "signing_keys"("kid");

-- CreateIndex
CREATE INDEX "signing_keys_status_idx" ON "signing_keys"("status");

-- CreateIndex
CREATE UNIQUE INDEX "router_bundles_version_key" ON "router_bundles"("version");

-- CreateIndex
CREATE INDEX "router_bundles_base_model_fingerprint_version_idx" ON "router_bundles"("base_model_fingerprint", "version");

-- CreateIndex
CREATE INDEX "router_bundles_created_at_idx" ON "router_bundles"("created_at");

-- CreateIndex
CREATE INDEX "audit_events_created_at_idx" ON "audit_events"("created_at");

-- CreateIndex
CREATE INDEX "audit_events_actor_type_actor_id_created_at_idx" ON "audit_events"("actor_type", "actor_id", "created_at");

-- CreateIndex
CREATE INDEX "audit_events_action_created_at_idx" ON "audit_events"("action", "created_at");

-- CreateIndex
CREATE INDEX "audit_events_target_type_target_id_created_at_idx" ON "audit_events"("target_type", "target_id", "created_at");

-- CreateIndex
CREATE INDEX "audit_events_site_id_created_at_idx" ON "audit_events"("site_id", "created_at");

-- CreateIndex
CREATE INDEX "audit_events_outcome_created_at_idx" ON "audit_events"("outcome", "created_at");

-- AddForeignKey
ALTER TABLE "sites" ADD CONSTRAINT "sites_decided_by_id_fkey" FOREIGN KEY ("decided_by_id") REFERENCES "admins"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "enrollment_tokens" ADD CONSTRAINT "enrollment_tokens_created_by_id_fkey" FOREIGN KEY ("created_by_id") REFERENCES "admins"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "enrollment_tokens" ADD CONSTRAINT "enrollment_tokens_used_by_site_id_fkey" FOREIGN KEY ("used_by_site_id") REFERENCES "sites"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "site_keys" ADD CONSTRAINT "site_keys_site_id_fkey" FOREIGN KEY ("site_id") REFERENCES "sites"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "tasks" ADD CONSTRAINT "tasks_proposed_by_site_id_fkey" FOREIGN KEY ("proposed_by_site_id") REFERENCES "sites"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "tasks" ADD CONSTRAINT "tasks_decided_by_id_fkey" FOREIGN KEY ("decided_by_id") REFERENCES "admins"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "task_contributors" ADD CONSTRAINT "task_contributors_task_id_fkey" FOREIGN KEY ("task_id") REFERENCES "tasks"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "task_contributors" ADD CONSTRAINT "task_contributors_site_id_fkey" FOREIGN KEY ("site_id") REFERENCES "sites"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "task_contributors" ADD CONSTRAINT "task_contributors_added_by_id_fkey" FOREIGN KEY ("added_by_id") REFERENCES "admins"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "adapter_versions" ADD CONSTRAINT "adapter_versions_task_id_fkey" FOREIGN KEY ("task_id") REFERENCES "tasks"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "adapter_versions" ADD CONSTRAINT "adapter_versions_site_id_fkey" FOREIGN KEY ("site_id") REFERENCES "sites"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "adapter_versions" ADD CONSTRAINT "adapter_versions_al_blob_hash_fkey" FOREIGN KEY ("al_blob_hash") REFERENCES "blobs"("hash") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "adapter_versions" ADD CONSTRAINT "adapter_versions_vae_blob_hash_fkey" FOREIGN KEY ("vae_blob_hash") REFERENCES "blobs"("hash") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "adapter_versions" ADD CONSTRAINT "adapter_versions_signed_by_key_id_fkey" FOREIGN KEY ("signed_by_key_id") REFERENCES "site_keys"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "adapter_versions" ADD CONSTRAINT "adapter_versions_decided_by_id_fkey" FOREIGN KEY ("decided_by_id") REFERENCES "admins"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "upload_sessions" ADD CONSTRAINT "upload_sessions_site_id_fkey" FOREIGN KEY ("site_id") REFERENCES "sites"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "upload_sessions" ADD CONSTRAINT "upload_sessions_task_id_fkey" FOREIGN KEY ("task_id") REFERENCES "tasks"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "upload_chunks" ADD CONSTRAINT "upload_chunks_session_id_fkey" FOREIGN KEY ("session_id") REFERENCES "upload_sessions"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "router_bundles" ADD CONSTRAINT "router_bundles_content_hash_fkey" FOREIGN KEY ("content_hash") REFERENCES "blobs"("hash") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "router_bundles" ADD CONSTRAINT "router_bundles_signing_key_id_fkey" FOREIGN KEY ("signing_key_id") REFERENCES "signing_keys"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "router_bundles" ADD CONSTRAINT "router_bundles_built_by_id_fkey" FOREIGN KEY ("built_by_id") REFERENCES "admins"("id") ON DELETE SET NULL ON UPDATE CASCADE;

