import {
  ConflictError,
  DomainError,
  ForbiddenError,
  InvalidInputError,
  NotFoundError,
} from '../common/domain-error';

export class UploadNotFoundError extends NotFoundError {
  constructor(id: string) {
    super('upload_not_found', `no upload ${id} of this site`);
  }
}

export class UploadNotOpenError extends ConflictError {
  constructor(id: string, status: string, reason: string | null) {
    super('upload_not_open', `upload ${id} is ${status}${reason ? ` (${reason})` : ''}; start a new one`, {
      status,
    });
  }
}

export class UploadExpiredError extends DomainError {
  constructor(id: string, at: Date) {
    super('upload_expired', `upload ${id} expired at ${at.toISOString()}; start a new one`, 410);
  }
}

export class UploadTooLargeError extends DomainError {
  constructor(size: number, limit: number) {
    super('upload_too_large', `an adapter file of ${size} bytes is over the limit of ${limit} bytes`, 413, {
      limit,
    });
  }
}

export class InvalidChunkSizeError extends InvalidInputError {
  constructor(chunkSize: number, min: number, max: number) {
    super('invalid_chunk_size', `chunkSize must be from ${min} to ${max} bytes, got ${chunkSize}`, {
      min,
      max,
    });
  }
}

export class TooManyOpenUploadsError extends ConflictError {
  constructor(limit: number) {
    super(
      'too_many_open_uploads',
      `this site has ${limit} open uploads already; complete them or let them expire`,
      { limit },
    );
  }
}

export class NotAContributorError extends ForbiddenError {
  constructor(taskId: string) {
    super(
      'not_a_contributor',
      `only the site that proposed task ${taskId} and the contributors an admin added may upload adapters for it`,
    );
  }
}

export class TaskNotApprovedError extends ConflictError {
  constructor(taskId: string, status: string) {
    super('task_not_approved', `task ${taskId} is ${status}; adapters are accepted only for approved tasks`, {
      status,
    });
  }
}

export class ChunkIndexOutOfRangeError extends InvalidInputError {
  constructor(index: number, count: number) {
    super('chunk_index_out_of_range', `chunk index ${index} is outside 0..${count - 1}`, {
      chunkCount: count,
    });
  }
}

export class ChunkHashMissingError extends InvalidInputError {
  constructor(header: string) {
    super('chunk_hash_missing', `send the chunk's sha256 (64 lower-case hex digits) in the ${header} header`);
  }
}

export class ChunkTooLargeError extends DomainError {
  constructor(index: number, expected: number) {
    super('chunk_too_large', `chunk ${index} must be exactly ${expected} bytes; more were sent`, 413, {
      expected,
    });
  }
}

export class ChunkSizeMismatchError extends InvalidInputError {
  constructor(index: number, expected: number, got: number) {
    super('chunk_size_mismatch', `chunk ${index} must be exactly ${expected} bytes, got ${got}`, {
      expected,
      got,
    });
  }
}

export class ChunkHashMismatchError extends InvalidInputError {
  constructor(index: number, declared: string, actual: string) {
    super(
      'chunk_hash_mismatch',
      `chunk ${index} hashes to ${actual}, not the declared ${declared}; nothing stored`,
      {
        declared,
        actual,
      },
    );
  }
}

export class ChunkConflictError extends ConflictError {
  constructor(index: number) {
    super(
      'chunk_conflict',
      `chunk ${index} already arrived with different bytes; a finished chunk never changes`,
    );
  }
}

export class UnsupportedChunkMediaTypeError extends DomainError {
  constructor(type: string | undefined) {
    super(
      'unsupported_media_type',
      `a chunk must be sent as application/octet-stream${type ? `, not ${type.slice(0, 100)}` : ''}`,
      415,
    );
  }
}

export class UploadIncompleteError extends ConflictError {
  constructor(missing: number[]) {
    super(
      'upload_incomplete',
      `${missing.length} chunk(s) have not arrived (first: ${missing.slice(0, 10).join(', ')}); send them, then complete`,
      { missing: missing.slice(0, 1000) },
    );
  }
}

/** The completion signature does not prove the site's key holder signed exactly this upload. */
export class UploadSignatureInvalidError extends DomainError {
  constructor(readonly problems: string[]) {
    super('upload_signature_invalid', `upload signature refused: ${problems.join('; ')}`, 422, { problems });
  }
}

/** The assembled file is not a valid adapter for the task; the upload is aborted and its chunks deleted. */
export class AdapterInvalidError extends DomainError {
  constructor(readonly problems: string[]) {
    super(
      'adapter_invalid',
      `the adapter file was refused (${problems.length} problem${problems.length === 1 ? '' : 's'}): ${problems
        .slice(0, 3)
        .join('; ')}${problems.length > 3 ? '; …' : ''}`,
      422,
      { problems },
    );
  }
}

export class AdapterVersionNotFoundError extends NotFoundError {
  constructor(id: string) {
    super('adapter_not_found', `no adapter version ${id}`);
  }
}

export class AdapterNotPendingError extends ConflictError {
  constructor(id: string, status: string, action: string) {
    super('adapter_not_pending', `adapter version ${id} is ${status}; only a pending one can be ${action}`, {
      status,
    });
  }
}
