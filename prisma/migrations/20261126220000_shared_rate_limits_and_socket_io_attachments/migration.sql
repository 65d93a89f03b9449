-- Replicas share everything through Postgres: the auth rate-limit token buckets move out of process memory,
-- and socket.io's Postgres adapter gets its table for payloads too large for NOTIFY.

-- CreateTable
CREATE TABLE "rate_limit_buckets" (
    "bucket" VARCHAR(50) NOT NULL,
    "key" VARCHAR(64) NOT NULL,
    "units" BIGINT NOT NULL,
    "at_ms" BIGINT NOT NULL,
    "allowed" BOOLEAN NOT NULL DEFAULT true,

    CONSTRAINT "rate_limit_buckets_pkey" PRIMARY KEY ("bucket","key")
);

-- CreateTable
CREATE TABLE "socket_io_attachments" (
    "id" BIGSERIAL NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "payload" BYTEA NOT NULL,

    CONSTRAINT "socket_io_attachments_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "rate_limit_buckets_at_ms_idx" ON "rate_limit_buckets"("at_ms");
