// The SOP classes the reader dispatches on. Images are "anything with pixels that is not one of these".

export const SEGMENTATION_STORAGE = '1.2.840.10008.5.1.4.1.1.66.4';
export const RT_STRUCTURE_SET_STORAGE = '1.2.840.10008.5.1.4.1.1.481.3';
export const CT_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.2';
export const ENHANCED_CT_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.2.1';
export const MR_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.4';
export const ENHANCED_MR_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.4.1';

const NAMES: Record<string, string> = {
  [SEGMENTATION_STORAGE]: 'Segmentation Storage (DICOM-SEG)',
  [RT_STRUCTURE_SET_STORAGE]: 'RT Structure Set Storage',
  [CT_IMAGE_STORAGE]: 'CT Image Storage',
  [ENHANCED_CT_IMAGE_STORAGE]: 'Enhanced CT Image Storage',
  [MR_IMAGE_STORAGE]: 'MR Image Storage',
  [ENHANCED_MR_IMAGE_STORAGE]: 'Enhanced MR Image Storage',
  '1.2.840.10008.1.3.10': 'Media Storage Directory (DICOMDIR)',
  '1.2.840.10008.5.1.4.1.1.481.2': 'RT Dose Storage',
  '1.2.840.10008.5.1.4.1.1.481.5': 'RT Plan Storage',
  '1.2.840.10008.5.1.4.1.1.11.1': 'Grayscale Softcopy Presentation State',
};

/** "1.2.840.10008.5.1.4.1.1.66.4 (Segmentation Storage (DICOM-SEG))", for messages. */
export function sopClassName(uid: string): string {
  return `SOP class ${uid || '(missing)'}${NAMES[uid] ? ` (${NAMES[uid]})` : ''}`;
}

/** Classes that never carry an image to train on: masks, structured reports, plans, presentation states. */
export function isNonImageSopClass(uid: string): boolean {
  return (
    uid === SEGMENTATION_STORAGE ||
    uid === RT_STRUCTURE_SET_STORAGE ||
    uid === '1.2.840.10008.1.3.10' ||
    uid === '1.2.840.10008.5.1.4.1.1.481.5' ||
    uid.startsWith('1.2.840.10008.5.1.4.1.1.88.') || // structured reports
    uid.startsWith('1.2.840.10008.5.1.4.1.1.11.') // presentation states
  );
}
