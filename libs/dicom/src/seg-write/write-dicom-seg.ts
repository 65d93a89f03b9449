// DICOM-SEG out: a segmentation result becomes a Segmentation Storage instance that a PACS files with the
// source study and a viewer (OHIF, 3D Slicer) overlays on the source images. The dataset is built here
// (seg-dataset.ts) rather than with dcmjs's Segmentation derivation, which starts from the full naturalized
// source datasets and copies what they carry; the agent holds a typed view of its sources, and a SEG must carry
// exactly the identity listed in seg-dataset.ts plus the algorithm identification. dcmjs does the encoding.
import { data, type NaturalDataset } from 'dcmjs';
import { packBinaryFrames } from './bit-pack';
import { UUID_UID_ROOT, newDicomUid } from './dicom-uid';
import { segDataset, SEGMENTATION_STORAGE } from './seg-dataset';
import { planSegFrames } from './seg-frames';
import { validateSegInput, type WriteDicomSegInput } from './seg-input';

export const EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1';
/** Identifies this writer in the file meta header (a UUID-derived UID, fixed for this implementation). */
const IMPLEMENTATION_CLASS_UID = '2.25.231857935718347127640432693014521063811';
const IMPLEMENTATION_VERSION_NAME = 'CASAM_SEG_1';

/** Writes a BINARY DICOM-SEG (Part 10, Explicit VR Little Endian); throws SegInputError for a bad request. */
export function writeDicomSeg(input: WriteDicomSegInput): Uint8Array {
  validateSegInput(input);
  const plan = planSegFrames(input);
  const root = input.uidRoot ?? UUID_UID_ROOT;
  const uids = {
    seriesInstanceUid: newDicomUid(root),
    sopInstanceUid: newDicomUid(root),
    dimensionOrganizationUid: newDicomUid(root),
  };
  const { rows, columns } = input.sources[0];
  const dataset = segDataset(input, plan, uids, (rgb) =>
    data.Colors.rgb2DICOMLAB(rgb.map((c) => c / 255)).map((v) => Math.round(v)),
  );
  const pixels = packBinaryFrames(
    plan.frames.map((frame) => frame.mask),
    rows * columns,
  );
  dataset.PixelData = [pixels.buffer];
  // PixelData is "OB or OW" in the dictionary; bit-packed data is bytes.
  dataset._vrMap = { PixelData: 'OB' };
  return encodePart10(dataset);
}

function encodePart10(dataset: NaturalDataset): Uint8Array {
  const meta = data.DicomMetaDictionary.denaturalizeDataset({
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
    MediaStorageSOPClassUID: SEGMENTATION_STORAGE,
    MediaStorageSOPInstanceUID: dataset.SOPInstanceUID,
    TransferSyntaxUID: EXPLICIT_VR_LITTLE_ENDIAN,
    ImplementationClassUID: IMPLEMENTATION_CLASS_UID,
    ImplementationVersionName: IMPLEMENTATION_VERSION_NAME,
  });
  const dict = new data.DicomDict(meta);
  dict.dict = data.DicomMetaDictionary.denaturalizeDataset(dataset);
  return new Uint8Array(dict.write());
}
