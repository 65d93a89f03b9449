// Naturalized dataset → Part 10 bytes in a chosen transfer syntax, for the test writers. dcmjs writes the
// uncompressed syntaxes itself; RLE goes through dcmjs-codecs (the same codecs the reader decodes with).
import dcmjs from 'dcmjs';
import type { NaturalDataset } from 'dcmjs';
import { encodePart10 } from '../read/codecs';
import { EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN, RLE_LOSSLESS } from '../read/transfer-syntax';

export type TestTransferSyntax = 'explicit-le' | 'implicit-le' | 'rle';

const UIDS: Record<TestTransferSyntax, string> = {
  'explicit-le': EXPLICIT_VR_LITTLE_ENDIAN,
  'implicit-le': IMPLICIT_VR_LITTLE_ENDIAN,
  rle: RLE_LOSSLESS,
};

/** Writes `dataset` (which must carry SOPClassUID and SOPInstanceUID) as a Part 10 file's bytes. */
export async function datasetToPart10(
  dataset: NaturalDataset,
  syntax: TestTransferSyntax = 'explicit-le',
): Promise<Uint8Array> {
  const native = syntax === 'implicit-le' ? IMPLICIT_VR_LITTLE_ENDIAN : EXPLICIT_VR_LITTLE_ENDIAN;
  // datasetToDict reads the transfer syntax from a denaturalized _meta entry and rebuilds the rest of _meta.
  const dict = dcmjs.data.datasetToDict({ ...dataset, _meta: { TransferSyntaxUID: { Value: [native] } } });
  dict.meta['00020012'] = { vr: 'UI', Value: ['1.2.826.0.1.3680043.10.1338.20'] };
  dict.meta['00020013'] = { vr: 'SH', Value: ['CASAM_TESTKIT'] };
  const bytes = new Uint8Array(dict.write());
  return syntax === 'rle' ? encodePart10(bytes, UIDS.rle) : bytes;
}
