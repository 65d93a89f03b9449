import { createHash } from 'node:crypto';
import {
  type AdapterMetadata,
  AdapterValidationError,
  adapterTauProblems,
  validateAdapterFile,
} from '@casam/protocol';
import type { TaskWithContributors } from '../tasks/task.repository';

/** What an upload promised: the declared size and hash of the file. */
export interface DeclaredFile {
  totalSize: bigint | number;
  sha256: string;
}

/**
 * Every reason the assembled bytes are not the adapter an upload promised for `task`: size and hash as
 * declared, the exact adapter schema for the task's base model, τ within its own calibration statistics, and
 * metadata that names this task and its base model. With the metadata when the file parsed.
 */
export function adapterContentProblems(
  bytes: Buffer,
  declared: DeclaredFile,
  task: TaskWithContributors,
): { problems: string[]; metadata?: AdapterMetadata } {
  const problems: string[] = [];
  if (bytes.length !== Number(declared.totalSize))
    problems.push(`assembled file is ${bytes.length} bytes, not the declared ${declared.totalSize}`);
  const actual = createHash('sha256').update(bytes).digest('hex');
  if (actual !== declared.sha256)
    problems.push(`assembled file hashes to ${actual}, not the declared ${declared.sha256}`);
  let metadata: AdapterMetadata | undefined;
  try {
    metadata = validateAdapterFile(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length), {
      channels: task.embeddingChannels,
    }).metadata;
  } catch (e) {
    if (!(e instanceof AdapterValidationError)) throw e;
    problems.push(...e.problems);
  }
  if (metadata) {
    // τ is bounded by the adapter's own calibration statistics: an inflated one would capture all routing
    problems.push(...adapterTauProblems(metadata.tau));
    if (metadata.taskId !== task.id)
      problems.push(`metadata taskId ${JSON.stringify(metadata.taskId)} is not this task's ${task.id}`);
    if (metadata.baseModel.fingerprint !== task.baseModelFingerprint)
      problems.push(
        `metadata baseModel.fingerprint ${metadata.baseModel.fingerprint} is not the task's ${task.baseModelFingerprint}`,
      );
    if (metadata.baseModel.preset !== task.baseModelPreset)
      problems.push(
        `metadata baseModel.preset ${JSON.stringify(metadata.baseModel.preset)} is not the task's ${task.baseModelPreset}`,
      );
  }
  return { problems, metadata };
}
