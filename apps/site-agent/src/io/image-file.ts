/**
 * The files `embed` and `segment` read and write: a PNG or JPEG decoded to RGB, a sniff for DICOM Part 10 content
 * (whatever the file's name), and an output written with a one-line error. Every problem is the user's input
 * (exit 3), named by the path.
 */
import { closeSync, existsSync, openSync, readFileSync, readSync, statSync, writeFileSync } from 'node:fs';
import { ImageDecodeError, RgbImage, decodeImage } from '@casam/casam-core';
import { looksLikePart10 } from '@casam/dicom';
import { EXIT, UserError } from '../cli/errors';

export function readImageFile(path: string): RgbImage {
  let buf: Buffer;
  try {
    if (statSync(path).isDirectory())
      throw new UserError(`--image ${path} is a directory, expected a PNG or JPEG file`, EXIT.input);
    buf = readFileSync(path);
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(
      `cannot read image ${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`,
      EXIT.input,
    );
  }
  try {
    return decodeImage(buf, path);
  } catch (e) {
    if (e instanceof ImageDecodeError) throw new UserError(e.message, EXIT.input);
    throw e;
  }
}

/** True when `path` is a file whose content is DICOM Part 10 (whatever its name). */
export function isDicomFile(path: string): boolean {
  if (!existsSync(path) || statSync(path).isDirectory()) return false;
  const fd = openSync(path, 'r');
  try {
    const head = new Uint8Array(132);
    readSync(fd, head, 0, 132, 0);
    return looksLikePart10(head);
  } finally {
    closeSync(fd);
  }
}

/** Writes a result file; a path that cannot be written is the user's input. */
export function writeOutputFile(path: string, bytes: Uint8Array): void {
  try {
    writeFileSync(path, bytes);
  } catch (err) {
    throw new UserError(`cannot write output: ${(err as Error).message}`, EXIT.input);
  }
}
