-- An adapter version keeps ONE blob, the validated adapter file exactly as uploaded (align.* + vae.* + casam
-- metadata), instead of separate Alignment Layer and VAE blobs. Tasks record their base-model preset and its
-- embedding channels. Upload chunks reference their blob, so garbage collection leaves open uploads alone.
-- No adapter versions or tasks existed before this migration (no route created them).
-- (No semicolons in comments: the schema engine splits scripts on them.)

-- DropForeignKey
ALTER TABLE "adapter_versions" DROP CONSTRAINT "adapter_versions_al_blob_hash_fkey";

-- DropForeignKey
ALTER TABLE "adapter_versions" DROP CONSTRAINT "adapter_versions_vae_blob_hash_fkey";

-- AlterTable
ALTER TABLE "adapter_versions" DROP COLUMN "al_blob_hash",
DROP COLUMN "vae_blob_hash",
ADD COLUMN     "adapter_blob_hash" CHAR(64) NOT NULL,
ADD COLUMN     "size_bytes" INTEGER NOT NULL,
ADD COLUMN     "upload_session_id" UUID;

-- AlterTable
ALTER TABLE "tasks" ADD COLUMN     "base_model_preset" VARCHAR(50) NOT NULL,
ADD COLUMN     "embedding_channels" INTEGER NOT NULL;

-- CreateIndex
CREATE UNIQUE INDEX "adapter_versions_upload_session_id_key" ON "adapter_versions"("upload_session_id");

-- AddForeignKey
ALTER TABLE "adapter_versions" ADD CONSTRAINT "adapter_versions_adapter_blob_hash_fkey" FOREIGN KEY ("adapter_blob_hash") REFERENCES "blobs"("hash") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "adapter_versions" ADD CONSTRAINT "adapter_versions_upload_session_id_fkey" FOREIGN KEY ("upload_session_id") REFERENCES "upload_sessions"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "upload_chunks" ADD CONSTRAINT "upload_chunks_sha256_fkey" FOREIGN KEY ("sha256") REFERENCES "blobs"("hash") ON DELETE RESTRICT ON UPDATE CASCADE;

