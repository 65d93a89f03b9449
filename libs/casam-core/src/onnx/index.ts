export {
  createOnnxSamEngine,
  promptToDecoderInputs,
  OnnxModelError,
  type OnnxSamEngine,
  type OnnxSamEngineOptions,
  type OnnxDecoderRawInputs,
  type OnnxDecoderRawOutputs,
} from './onnx-sam-engine';
export * from './export';
