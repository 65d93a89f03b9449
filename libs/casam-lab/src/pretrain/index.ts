/**
 * Pretraining of the embedded SAM on the generic synthetic corpus (`npm run pretrain`). Only what callers
 * outside this folder need is exported; names carry their context because the library re-exports them.
 */
export { initSamStateDict } from './init-weights';
export { createTrainableSam, type TrainableSam } from './trainable-sam';
export {
  EVAL_SEED as GENERIC_EVAL_SEED,
  GENERIC_CORPUS_VERSIONS,
  createGenericCorpus,
  type CompositeKind,
  type CorpusVersion,
  type CorpusSample,
  type CorpusTarget,
  type GenericCorpus,
  type GenericCorpusOptions,
} from './generic-corpus';
export { evaluateHeldOut, makeHeldOutSet, type EvalResult, type EvalSet } from './evaluate';
export { EVAL_DOMAINS, makeDomainEvalSet, summariseDomainEval, type DomainEvalSummary } from './domain-eval';
export {
  PretrainCheckpointError,
  loadCheckpoint,
  type Checkpoint,
  type CheckpointMeta,
} from './checkpoint-io';
export {
  CHECKPOINT_FILE,
  LOG_FILE,
  PretrainOptionsError,
  benchmarkPretrainSteps,
  pretrain,
  resolvePretrainOptions,
  type PretrainOptions,
  type PretrainResult,
  type ResolvedPretrainOptions,
} from './pretrainer';
export {
  ExportTooLargeError,
  MAX_EXPORT_BYTES,
  exportPretrainedModel,
  type ExportInfo,
  type ExportResult,
} from './export-model';
export { WarmStartError, warmStartStateDict, type WarmStartReport } from './warm-start';
export {
  TRAINING_CURVE_FILE,
  TrainingCurveError,
  trainingCurvePoints,
  trainingCurveSvg,
  writeTrainingCurve,
  type TrainingCurvePoint,
} from './training-curve';
export {
  createRealCorpus,
  mixCorpora,
  REAL_CORPUS_VERSION,
  type RealCorpus,
  type RealCorpusOptions,
  type RealImage,
} from './real-corpus';
