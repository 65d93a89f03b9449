// The ML library's public API, written out name by name: the apps, the lab (libs/casam-lab), e2e, the benchmarks
// and the scripts import from here only (deep imports are a lint error). Test helpers: `@casam/casam-core/testing`.

// Host tensors and weights: read, validate and fingerprint SAM checkpoints (.pth, .safetensors).
export { type HostTensor, type StateDict, float32Tensor, shapeEquals, toFloat32 } from './tensor/host-tensor';
export { expectedStateDict } from './sam/expected-keys';
export { stateDictFingerprint } from './weights/fingerprint';
export { type SafetensorsFile, readSafetensors, writeSafetensors } from './weights/safetensors';
export { CheckpointMismatchError, loadSamWeights, validateStateDict } from './weights/validate';

// SAM in TypeScript: presets, the model, its engines and the predictor.
export {
  DEFAULT_MODEL_FILE,
  DEFAULT_PRESET,
  type SamConfig,
  getPreset,
  gridSize,
  isPresetName,
  maskInputSize,
} from './sam/config';
export { type DecoderDelta } from './sam/decoder-delta';
export { type SamEngine } from './sam/engine';
export { createImageEncoder } from './sam/image-encoder';
export { createMaskDecoder } from './sam/mask-decoder';
export { ParamLayoutError, ParamStore } from './sam/params';
export { PromptError, createSamPredictor } from './sam/predictor';
export { createPromptEncoder } from './sam/prompt-encoder';
export { randomSamStateDict } from './sam/random-weights';
export { type Sam, buildSam, createSam } from './sam/sam';
export { ensureGradients, tf } from './sam/tf';
export { createTfjsSamEngine } from './sam/tfjs-sam-engine';
export {
  ImageShapeError,
  imageShapeProblem,
  postprocessMasksTf,
  prepareImage,
  preprocess,
} from './sam/transforms';

// Execution backends for TF.js.
export { BACKEND_NAMES, type BackendName, BackendUnavailableError, initBackend } from './backend/backends';

// Images, datasets and NIfTI volumes.
export {
  DEFAULT_SPLITS,
  type DatasetClass,
  DatasetFormatError,
  type DatasetManifest,
  DatasetOptionsError,
  type DatasetSplit,
  type SplitFractions,
  assignSplit,
  datasetHash32,
  sequenceSplit,
  validateSplitFractions,
} from './data/dataset-format';
export {
  type DatasetIndex,
  type DatasetItem,
  type DatasetProblem,
  loadItem,
  readDatasetFolder,
} from './data/dataset-reader';
export { DatasetFolderWriter, DatasetResumeError, type ItemToWrite } from './data/dataset-writer';
export { readNifti } from './data/nifti';
export { type NiftiPair, importNiftiPairs } from './data/nifti-import';
export {
  ImageDecodeError,
  MAX_IMAGE_PIXELS,
  type RgbImage,
  decodeImage,
  encodeMaskPng,
  encodeRgbPng,
  grayToRgb,
} from './image/image-io';
export { writeFileAtomic } from './io/atomic-file';

// CA-SAM: Alignment Layer, TaskVAE, τ, routing, adapter files and the routed segmenter.
export { type AdamOptimizer, createAdam } from './casam/adam-optimizer';
export { readAdapterFile, writeAdapterFile } from './casam/adapter-file';
export {
  type AlignmentLayer,
  IDENTITY_ALIGNMENT,
  createAlignmentLayer,
  initialAlignmentStateDict,
} from './casam/align-layer';
export { attentionPool } from './casam/attention-pool';
export {
  DEFAULT_DECODER_LORA_RANK,
  type DecoderLora,
  type DecoderLoraOptions,
  assertDecoderLoraFits,
  createDecoderLora,
  mergeDecoderLora,
} from './casam/decoder-lora';
export { createFastRouter } from './casam/fast-router';
export { FOCAL_ALPHA, FOCAL_GAMMA, segmentationLoss } from './casam/losses';
export { type AggregateMetrics, type RegionMetrics, aggregateMetrics } from './casam/metrics';
export {
  type LoadedAdapter,
  type RoutedPrediction,
  type RoutedSegmenter,
  createRoutedSegmenter,
  loadAdapter,
  tasksWithDecoderDelta,
} from './casam/routed-segmenter';
export {
  DEFAULT_ROUTING_RULE,
  ROUTING_RULES,
  type RouteDecision,
  type RouteResult,
  type RoutingRule,
  type TaskScore,
  createRouter,
  decide,
} from './casam/router';
export {
  SeededRng,
  type Rng,
  mixSeed,
  mulberry32,
  createRng,
  deriveSeed,
  normalArray,
  shuffledIndices,
  uniformArray,
} from './random/seeded-random';
export {
  DEFAULT_VAE_OPTIONS,
  type TaskVae,
  createTaskVae,
  initialTaskVaeStateDict,
  trainTaskVae,
} from './casam/task-vae';
export {
  DEFAULT_TAU_PERCENTILE,
  MIN_TAU_TRAINING_IMAGES,
  TAU_PERCENTILE_RANGE,
  calibrateTau,
} from './casam/tau-calibration';
export { type TauStats } from './casam/tau-stats';

// Training an Alignment Layer and a TaskVAE for one task.
export {
  type AlTimings,
  DEFAULT_AL_EPOCHS,
  DEFAULT_AL_LR,
  type DecoderLoraTrainingOptions,
  type LossResolution,
  trainAlignmentLayer,
} from './trainer/al-trainer';
export { evaluateBoxPrompts } from './trainer/box-prompt-evaluator';
export { ensureEmbeddings, loadEmbedding } from './trainer/embedding-cache';
export {
  type ParameterMap,
  accumulateFisher,
  computeFisherDiagonal,
  createEwcPenalty,
  parameterSnapshot,
} from './trainer/ewc';
export {
  downsampleMask,
  maskBoundingBox,
  maskToInputFrame,
  resolvePromptSamplerOptions,
  samplePromptBatch,
  toModelFrame,
} from './trainer/prompt-sampler';
export { splitRegions } from './trainer/regions';
export { type TaskProgress, TaskStateMismatchError, trainTask } from './trainer/task-trainer';
export { TrainerInputError, TrainingAbortedError } from './trainer/trainer-errors';
export { type AlStepFlops, alTrainingStepFlops } from './trainer/training-flops';
export { type EmbeddedItem, type TrainingItem } from './trainer/training-item';

// ONNX Runtime: engines and the TypeScript exporter.
export { GraphBuilder } from './onnx/export/onnx-builder';
export {
  createOnnxRoutedSegmenter,
  exportRoutedSegmenterOnnx,
  type OnnxRoutedSegmenter,
} from './onnx/onnx-routed-segmenter';
export {
  OnnxModelError,
  type OnnxSamEngine,
  createOnnxSamEngine,
  createOnnxTaskDecoderEngine,
} from './onnx/onnx-sam-engine';
export {
  DEFAULT_PROBE_TOLERANCE,
  OnnxExportMismatchError,
  ensureOnnxAlignmentLayers,
  ensureOnnxBaseExport,
  ensureOnnxTaskDecoders,
  decoderLoraFingerprint,
  onnxBaseExportName,
  type OnnxBaseExport,
  type OnnxBaseExportOptions,
  type ProbeReport,
} from './onnx/onnx-export-cache';
export {
  ONNX_EXPORTER_VERSION,
  exportSamOnnx,
  isOnnxExportCurrent,
  type OnnxExportManifest,
} from './onnx/export/export-model';
