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
export {
  createOnnxRoutedSegmenter,
  exportRoutedSegmenterOnnx,
  type OnnxRoutedSegmenter,
  type OnnxRoutedSegmenterOptions,
} from './onnx-routed-segmenter';
