/** Public API of the weights folder: reading, checking and identifying SAM checkpoints. */
export { readSafetensors, writeSafetensors, SafetensorsError } from './safetensors';
export type { SafetensorsFile, ReadSafetensorsOptions } from './safetensors';
export { ZipArchive, ZipError, isZip, openZip } from './zip-reader';
export type { ZipEntry, ReadEntryOptions } from './zip-reader';
export { writeZip } from './zip-writer';
export type { ZipWriteEntry, WriteZipOptions } from './zip-writer';
export {
  PickleDict,
  PickleError,
  PickleGlobal,
  PickleTuple,
  TorchStorage,
  TorchStorageType,
  TorchTensorRef,
  UnsafePickleError,
  unpickle,
} from './unpickler';
export type { PickleKey, PickleValue, UnpickleOptions } from './unpickler';
export { PickleWriter } from './pickle-writer';
export { LegacyTorchFormatError, PthError, isLegacyTorch, readPth } from './pth-reader';
export type { ReadPthOptions } from './pth-reader';
export { writePth, writePthRaw } from './pth-writer';
export type { PthStorageSpec, PthTensorSpec, WritePthOptions } from './pth-writer';
export {
  CheckpointError,
  detectCheckpointFormat,
  parseCheckpoint,
  readCheckpoint,
  readFileFully,
} from './checkpoint';
export type { CheckpointFormat } from './checkpoint';
export { SAM_PARTS, expectedStateDict } from '../sam/expected-keys';
export type { ExpectedTensor, SamPart } from '../sam/expected-keys';
export { CheckpointMismatchError, loadSamWeights, validateStateDict } from './validate';
export type { NonFinite, ValidateOptions, WrongDtype, WrongShape } from './validate';
export { stateDictFingerprint } from './fingerprint';
