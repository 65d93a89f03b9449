/**
 * Names and shapes of the CA-SAM tensors, in PyTorch layout and `named_parameters()` order. The schema lives in
 * `@casam/protocol` (the coordinator checks uploads against it without an ML engine); this module re-exports it
 * for the ML code.
 */
export {
  ALIGN_NUM_BLOCKS,
  type CasamTensorSpec,
  InvalidChannelsError,
  MAX_CHANNELS,
  type TaskVaeDims,
  VAE_LATENT_DIM,
  VAE_MIN_HIDDEN_DIM,
  alignmentStateDictSpec,
  assertChannels,
  ecaKernelSize,
  specParameterCount,
  taskVaeDims,
  taskVaeLinears,
  taskVaeStateDictSpec,
} from '@casam/protocol';
