/** Public API of the TypeScript ONNX exporter: one function per graph, plus the whole-model folder export. */
export {
  AUTO_EXTERNAL_BYTES,
  GraphBuilder,
  ONNX_IR_VERSION,
  ONNX_OPSET,
  OnnxExportError,
  writeOnnxModel,
  type ModelOptions,
  type SerializeOptions,
  type SerializedModel,
} from './onnx-builder';
export { decodeModelProto, type ModelMessage } from './onnx-proto';
export {
  ENCODER_INPUT_NAME,
  ENCODER_OUTPUT_NAME,
  buildEncoderGraph,
  exportImageEncoderOnnx,
} from './encoder-graph';
export {
  DECODER_INPUT_NAMES,
  DECODER_OUTPUT_NAMES,
  buildDecoderGraph,
  exportPromptDecoderOnnx,
} from './decoder-graph';
export {
  ALIGN_INPUT_NAME,
  ALIGN_OUTPUT_NAME,
  buildAlignGraph,
  exportAlignmentLayerOnnx,
  type AlignGraphOptions,
} from './align-graph';
export {
  ONNX_EXPORTER_VERSION,
  ONNX_MANIFEST_FILE,
  configFingerprint,
  exportSamOnnx,
  isOnnxExportCurrent,
  readOnnxExportManifest,
  type AlignmentLayerToExport,
  type ExportSamOnnxOptions,
  type OnnxExportManifest,
  type OnnxExportedFile,
} from './export-model';
