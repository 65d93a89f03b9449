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
export {
  DEFAULT_PROBE_TOLERANCE,
  OnnxExportMismatchError,
  ensureOnnxAlignmentLayers,
  ensureOnnxBaseExport,
  onnxBaseExportName,
  type OnnxBaseExport,
  type OnnxBaseExportOptions,
  type ProbeReport,
} from './onnx-export-cache';
