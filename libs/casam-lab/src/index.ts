// The lab: what benchmarks, scripts and tests use and a hospital never runs (synthetic domains, pretraining of
// the embedded base model, the continual-learning protocol, report pictures). Apps may not import it.
export * from './data';
export * from './pretrain';
export * from './continual';
export * from './report';
export { LoadCheckpoints, type MachineInfo, machineInfo, machineSummary } from './bench/machine-info';
export {
  findTorchPython,
  isReferenceBlas,
  startTorchEncoder,
  type TorchEncoder,
  type TorchEncoderOptions,
  type TorchPython,
} from './bench/torch-encoder';
export {
  byCodeUnit,
  type ManifestBase,
  PackError,
  sealBundle,
  sha256File,
  sourceDateEpoch,
  walkFiles,
} from './release/offline-bundle';
export * from './bench/real-split';
export * from './bench/real-volumes';
export {
  CliUsageError,
  type CliIo,
  failUsage,
  numberFlag,
  parseCliArgs,
  type SignalStop,
  stopOnSignal,
} from './bench/cli';
export {
  type BenchModel,
  BenchModelError,
  type BenchModelOptions,
  loadBenchModel,
} from './bench/bench-model';
