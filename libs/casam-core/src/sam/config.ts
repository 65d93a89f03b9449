/**
 * SAM sizes in one place. Field meanings follow the official builder (`build_sam.py`) and the fixture config.
 */
export interface SamConfig {
  /** Preset name, e.g. `vit_b`. */
  name: string;
  imgSize: number;
  patchSize: number;
  inChans: number;
  encoderEmbedDim: number;
  encoderDepth: number;
  encoderNumHeads: number;
  encoderMlpRatio: number;
  encoderGlobalAttnIndexes: number[];
  encoderWindowSize: number;
  encoderQkvBias: boolean;
  encoderUseAbsPos: boolean;
  encoderUseRelPos: boolean;
  /** LayerNorm eps inside the ViT blocks (official: 1e-6). */
  encoderLayerNormEps: number;
  /** Output channels of the neck = prompt embed dim = image-embedding channels C. */
  outChans: number;
  promptEmbedDim: number;
  maskInChans: number;
  decoderTransformerDepth: number;
  decoderTransformerMlpDim: number;
  decoderTransformerNumHeads: number;
  decoderAttentionDownsampleRate: number;
  /** nn.LayerNorm default inside the two-way transformer. */
  decoderLayerNormEps: number;
  numMultimaskOutputs: number;
  iouHeadDepth: number;
  iouHeadHiddenDim: number;
  /** LayerNorm2d eps (neck, prompt mask downscaling, output upscaling). */
  layerNorm2dEps: number;
  pixelMean: [number, number, number];
  pixelStd: [number, number, number];
  maskThreshold: number;
}

/** Derived sizes every module needs. */
export function gridSize(cfg: SamConfig): number {
  return cfg.imgSize / cfg.patchSize;
}
export function maskInputSize(cfg: SamConfig): number {
  return 4 * gridSize(cfg);
}

const COMMON = {
  patchSize: 16,
  inChans: 3,
  encoderMlpRatio: 4,
  encoderQkvBias: true,
  encoderUseAbsPos: true,
  encoderUseRelPos: true,
  encoderLayerNormEps: 1e-6,
  maskInChans: 16,
  decoderTransformerDepth: 2,
  decoderAttentionDownsampleRate: 2,
  decoderLayerNormEps: 1e-5,
  numMultimaskOutputs: 3,
  iouHeadDepth: 3,
  layerNorm2dEps: 1e-6,
  pixelMean: [123.675, 116.28, 103.53] as [number, number, number],
  pixelStd: [58.395, 57.12, 57.375] as [number, number, number],
  maskThreshold: 0,
};

const OFFICIAL = {
  ...COMMON,
  imgSize: 1024,
  encoderWindowSize: 14,
  outChans: 256,
  promptEmbedDim: 256,
  decoderTransformerMlpDim: 2048,
  decoderTransformerNumHeads: 8,
  iouHeadHiddenDim: 256,
};

const SMALL = {
  ...COMMON,
  imgSize: 256,
  encoderEmbedDim: 96,
  encoderDepth: 4,
  encoderNumHeads: 3,
  encoderGlobalAttnIndexes: [1, 3],
  outChans: 64,
  promptEmbedDim: 64,
  decoderTransformerMlpDim: 256,
  decoderTransformerNumHeads: 4,
  iouHeadHiddenDim: 64,
};

export const SAM_PRESETS = {
  vit_b: {
    ...OFFICIAL,
    name: 'vit_b',
    encoderEmbedDim: 768,
    encoderDepth: 12,
    encoderNumHeads: 12,
    encoderGlobalAttnIndexes: [2, 5, 8, 11],
  },
  vit_l: {
    ...OFFICIAL,
    name: 'vit_l',
    encoderEmbedDim: 1024,
    encoderDepth: 24,
    encoderNumHeads: 16,
    encoderGlobalAttnIndexes: [5, 11, 17, 23],
  },
  vit_h: {
    ...OFFICIAL,
    name: 'vit_h',
    encoderEmbedDim: 1280,
    encoderDepth: 32,
    encoderNumHeads: 16,
    encoderGlobalAttnIndexes: [7, 15, 23, 31],
  },
  /** The fixture model (`shared/fixtures/sam-mini`): window 7 on a 16×16 grid, so windows are padded. */
  'sam-mini': { ...SMALL, name: 'sam-mini', encoderWindowSize: 7 },
  /**
   * The project's own first embedded default (models/casam-tiny). Same sizes as sam-mini except window 8, which
   * tiles the 16×16 grid exactly (sam-mini's window 7 pads 256 tokens to 441, wasting 40% of windowed attention).
   */
  'casam-tiny': { ...SMALL, name: 'casam-tiny', encoderWindowSize: 8 },
  /**
   * casam-tiny's ViT on 8-px patches: a 32×32 embedding grid (128×128 low-res masks) at the same 256-px input,
   * for structures a 16-px cell cannot outline. Same parameter shapes as casam-tiny except the patch
   * embedding, pos_embed and the global blocks' rel-pos tables, so it can be warm-started from casam-tiny
   * (pretrain/warm-start.ts). The embedded default since 2026-12-07 (models/casam-small/README.md: frozen, it
   * beats filling the prompt box where casam-tiny did not).
   */
  'casam-small': { ...SMALL, name: 'casam-small', patchSize: 8, encoderWindowSize: 8 },
} satisfies Record<string, SamConfig>;

export type SamPresetName = keyof typeof SAM_PRESETS;

export const DEFAULT_PRESET: SamPresetName = 'casam-small';

/**
 * The embedded default base model's weights, relative to the repository root (`models/<preset>/`, made by
 * `npm run pretrain`; its README says how). Everything that means "the shipped model" — `site-agent init`, the
 * demo, the offline pack, the benchmarks' defaults — resolves this one path.
 */
export const DEFAULT_MODEL_FILE = `models/${DEFAULT_PRESET}/${DEFAULT_PRESET}.safetensors`;

export function isPresetName(name: string): name is SamPresetName {
  return Object.prototype.hasOwnProperty.call(SAM_PRESETS, name);
}

export function getPreset(name: string): SamConfig {
  if (!isPresetName(name))
    throw new Error(`unknown model preset "${name}"; known presets: ${Object.keys(SAM_PRESETS).join(', ')}`);
  return structuredClone(SAM_PRESETS[name]);
}
