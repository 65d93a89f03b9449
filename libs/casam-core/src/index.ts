// Public API of the ML library. Apps import from here only.
export * from './tensor/host-tensor';
export * from './sam/config';
export * from './sam/engine';
export * from './sam/sam';
export * from './sam/tfjs-sam-engine';
export * from './sam/predictor';
export * from './sam/transforms';
export { tf } from './sam/tf';
export * from './image/image-io';
export * from './weights';
export * from './backend';
export * from './onnx';
export * from './sam/random-weights';
export * from './casam';
export * from './pretrain';
export { ParamStore, ParamLayoutError, type ParamStoreOptions } from './sam/params';
export * from './data';
export * from './trainer';
