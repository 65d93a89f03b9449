import { Type } from 'class-transformer';
import { IsInt, IsString, IsUUID, Length, Matches, Max, Min } from 'class-validator';
import type { CompleteUploadRequest, CreateUploadRequest } from '@casam/protocol';
import { TASK_LIMITS } from '@casam/protocol';

export class UploadIdParams {
  @IsUUID()
  id!: string;
}

export class ChunkParams {
  @IsUUID()
  id!: string;

  @Type(() => Number)
  @IsInt({ message: 'index must be a non-negative integer' })
  @Min(0, { message: 'index must be a non-negative integer' })
  @Max(1_000_000)
  index!: number;
}

export class AdapterIdParams {
  @IsUUID()
  id!: string;
}

export class CreateUploadDto implements CreateUploadRequest {
  @IsUUID()
  taskId!: string;

  /** Upper bound checked by the service (413 upload_too_large). */
  @IsInt()
  @Min(1)
  totalSize!: number;

  @IsString()
  @Matches(/^[0-9a-f]{64}$/, { message: 'sha256 must be 64 lower-case hex digits' })
  sha256!: string;

  /** Range checked by the service (400 invalid_chunk_size). */
  @IsInt()
  @Min(1)
  chunkSize!: number;
}

export class CompleteUploadDto implements CompleteUploadRequest {
  @IsString()
  @Length(1, 8192)
  signature!: string;
}

export class AdapterDecisionDto {
  @IsString()
  @Length(1, TASK_LIMITS.maxReasonLength)
  @Matches(/\S/, { message: 'reason must not be blank' })
  reason!: string;
}
