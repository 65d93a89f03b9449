// Crafted headers for the readers' size-limit specs (the library's and the site agent's `serve`).

/**
 * A Part 10 file (explicit VR little endian dataset, any pixel encoding) whose Rows and Columns now claim `value`
 * each: the header of a decompression bomb, for specs that must see it refused before anything is decoded.
 */
export function withRowsColumns(bytes: Uint8Array, value: number): Uint8Array {
  const out = bytes.slice();
  const view = new DataView(out.buffer);
  let patched = 0;
  for (let i = 132; i + 10 <= out.length && patched < 2; i++) {
    const isRowsOrColumns =
      view.getUint16(i, true) === 0x0028 &&
      [0x0010, 0x0011].includes(view.getUint16(i + 2, true)) &&
      out[i + 4] === 0x55 && // 'U'
      out[i + 5] === 0x53 && // 'S'
      view.getUint16(i + 6, true) === 2;
    if (isRowsOrColumns) {
      view.setUint16(i + 8, value, true);
      patched++;
    }
  }
  if (patched !== 2) throw new Error('Rows/Columns not found');
  return out;
}
