export {
  BACKEND_NAMES,
  BackendUnavailableError,
  currentBackend,
  initBackend,
  installHint,
  type BackendInfo,
  type BackendKind,
  type BackendName,
  type InitBackendOptions,
} from './backends';
export {
  registerWasmTrainingKernels,
  WASM_ACCELERATED_KERNELS,
  WASM_ADDED_KERNELS,
  WASM_FIXED_KERNELS,
  type WasmKernelRegistration,
} from './wasm-kernels';
export { defaultWasmThreads, MAX_WASM_THREADS } from './wasm-threads';
export { registerResizeBilinearGradFix } from './resize-bilinear-grad';
