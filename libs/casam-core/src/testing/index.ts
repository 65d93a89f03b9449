// The library's test kit for other projects' tests and benchmarks: the official golden tensors in ../shared/fixtures.
export * from './fixtures';
export { SAM_MINI_WEIGHTS, samMiniWeights, syntheticItems } from '../trainer/trainer-fixtures.testing';
export { constantDecoderLora, zeroAdapterStateDicts } from './adapters';
export { PNG_SIGNATURE, pngChunk, pngClaiming } from '../image/png-bytes.testing';
