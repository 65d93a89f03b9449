import {
  tf,
  SamConfig,
  createImageEncoder,
  createMaskDecoder,
  ParamStore,
  createPromptEncoder,
  Sam,
  createSam,
  StateDict,
  expectedStateDict,
  validateStateDict,
} from '@casam/casam-core';

/**
 * SAM whose weights are `tf.Variable`s, for training every part (image encoder, prompt encoder, mask
 * decoder). It is the ordinary model code running on a training-mode ParamStore (see the design note on
 * ParamStore): the cached TF-layout tensors are the variables, and the few build-time derivations (ViT q/k/v
 * split, transposed rel-pos tables, patch/neck reshapes) happen inside the forward, on the tape.
 */
export interface TrainableSam {
  readonly config: SamConfig;
  /** The model; forwards use the variables directly. Do not dispose it separately. */
  readonly sam: Sam;
  /** Trainable variables by official name, in official state-dict order (the frozen PE buffer excluded). */
  readonly variables: Map<string, tf.Variable>;
  /** Current weights: official names, order and PyTorch layouts, float32; passes `validateStateDict`. */
  stateDict(): StateDict;
  dispose(): void;
}

/** Builds a trainable SAM from an official-named state dict (validated first). */
export function createTrainableSam(cfg: SamConfig, sd: StateDict): TrainableSam {
  validateStateDict(sd, cfg);
  const params = ParamStore.trainable(sd);
  const sam = createSam(cfg, {
    imageEncoder: createImageEncoder(cfg, params.scope('image_encoder')),
    promptEncoder: createPromptEncoder(cfg, params.scope('prompt_encoder')),
    maskDecoder: createMaskDecoder(cfg, params.scope('mask_decoder')),
    params,
  });
  const fetched = params.trainableVariables();
  const variables = new Map<string, tf.Variable>();
  for (const { name } of expectedStateDict(cfg)) {
    const v = fetched.get(name);
    if (v) variables.set(name, v);
  }
  return {
    config: cfg,
    sam,
    variables,
    stateDict(): StateDict {
      const all = params.stateDict();
      const out: StateDict = new Map();
      for (const { name } of expectedStateDict(cfg)) out.set(name, all.get(name)!);
      validateStateDict(out, cfg);
      return out;
    },
    dispose(): void {
      sam.dispose();
    },
  };
}
