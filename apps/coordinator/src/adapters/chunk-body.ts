import type { IncomingMessage } from 'node:http';
import { ChunkSizeMismatchError, ChunkTooLargeError } from './adapter.errors';

/**
 * Reads a chunk's raw body, which must be exactly `expected` bytes. Refuses early from Content-Length, and
 * stops buffering as soon as more arrive, so a client cannot make the coordinator hold more than one chunk.
 * The global JSON parser leaves `application/octet-stream` bodies unread, so the stream is still intact here.
 */
export function readChunkBody(req: IncomingMessage, index: number, expected: number): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > expected)
    return Promise.reject(new ChunkTooLargeError(index, expected));
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let received = 0;
    let settled = false;
    const fail = (e: Error) => {
      if (settled) return;
      settled = true;
      parts.length = 0;
      reject(e);
    };
    // After a failure the rest is still read and dropped (not destroyed), so the client gets the answer
    // instead of a reset connection.
    req.on('data', (part: Buffer) => {
      if (settled) return;
      received += part.length;
      if (received > expected) fail(new ChunkTooLargeError(index, expected));
      else parts.push(part);
    });
    req.once('end', () => {
      if (received !== expected) fail(new ChunkSizeMismatchError(index, expected, received));
      else if (!settled) {
        settled = true;
        resolve(Buffer.concat(parts, received));
      }
    });
    req.once('error', fail);
  });
}
