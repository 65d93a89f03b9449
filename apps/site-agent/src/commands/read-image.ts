import { readFileSync, statSync } from 'node:fs';
import { ImageDecodeError, RgbImage, decodeImage } from '@casam/casam-core';
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
