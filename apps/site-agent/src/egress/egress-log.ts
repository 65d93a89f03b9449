import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

export interface EgressRecord {
  at: Date;
  /** Message type from messages.ts, or `refused:<type>` for something stopped before it left. */
  type: string;
  method: string;
  target: string;
  bytes: number;
  /** sha256 (hex) of the bytes sent (empty body: the hash of nothing). */
  sha256: string;
  /** HTTP status, `socket`, or the reason for a refusal/failure. */
  outcome: string;
}

/**
 * The local, human-readable record of everything the agent sent (and everything it refused to send): one
 * line per message, tab-separated —
 *
 *   2026-11-26T15:20:01.123Z  upload_chunk  PUT  /api/v1/uploads/…/chunks/3  1048576  9f86d0…  200
 *
 * Appended synchronously before the process moves on, so a crash cannot lose a line for a message that left.
 */
export class EgressLog {
  constructor(readonly file: string) {
    mkdirSync(dirname(file), { recursive: true });
  }

  append(r: EgressRecord): void {
    const clean = (s: string) => s.replace(/[\t\r\n]/g, ' ');
    appendFileSync(
      this.file,
      [r.at.toISOString(), r.type, r.method, r.target, String(r.bytes), r.sha256, r.outcome]
        .map(clean)
        .join('\t') + '\n',
      { mode: 0o600 },
    );
  }
}

/** Parses an egress log back into records (for `status`, audits and tests). */
export function parseEgressLog(text: string): EgressRecord[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((line, i) => {
      const f = line.split('\t');
      if (f.length !== 7) throw new Error(`egress log line ${i + 1} has ${f.length} fields, expected 7`);
      return {
        at: new Date(f[0]),
        type: f[1],
        method: f[2],
        target: f[3],
        bytes: Number(f[4]),
        sha256: f[5],
        outcome: f[6],
      };
    });
}
