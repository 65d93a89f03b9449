-- An adapter version records its file's format version (1: Alignment Layer, 2: with a per-task decoder LoRA
-- delta) and, for version 2, the delta's metadata {rank, alpha, layers} as the file declares it. Every version
-- stored before this migration is a version 1 file: that is the default.
-- (No semicolons in comments: the schema engine splits scripts on them.)

-- AlterTable
ALTER TABLE "adapter_versions" ADD COLUMN     "decoder_lora" JSONB,
ADD COLUMN     "format_version" INTEGER NOT NULL DEFAULT 1;
