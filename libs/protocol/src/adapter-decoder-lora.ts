/**
 * The optional per-task decoder delta of an adapter file (schema version 2): a low-rank (LoRA) update of some
 * of the frozen mask decoder's Linear layers, ΔW = (alpha / rank) · B·A with W [out,in] (PyTorch layout).
 *
 *   tensors   `decoder_lora.<layer>.A` [rank, in] and `decoder_lora.<layer>.B` [out, rank], after align.* and vae.*,
 *             layers in the decoder's order
 *   metadata  `decoderLora: {rank, alpha, layers}` (layer names relative to `mask_decoder`)
 *
 * Which layers may carry a delta: every attention projection of the two-way transformer (q/k/v/out of each
 * block's three attentions and of the final token-to-image attention) and the output hypernetwork MLPs. Their
 * shapes follow from the embedding width alone (every preset the federation knows has a 2-block transformer,
 * attention downsample rate 2 and 4 mask tokens; a casam-core spec keeps this equal to its SAM presets), so the
 * coordinator can check a delta knowing only the channel count. Depends on nothing.
 */

/** Metadata version of an adapter with a decoder delta; version 1 files have none. */
export const ADAPTER_VERSION_DECODER_LORA = 2;
/** Every adapter metadata version this reader accepts. */
export const ADAPTER_VERSIONS = Object.freeze([1, ADAPTER_VERSION_DECODER_LORA] as const);
export type AdapterVersion = (typeof ADAPTER_VERSIONS)[number];
export const ADAPTER_DECODER_LORA_PREFIX = 'decoder_lora.';

export const DECODER_LORA_LIMITS = Object.freeze({
  /** Largest rank accepted (a rank-16 delta is already far past what a few hundred images can fit). */
  maxRank: 16,
  /** Largest alpha accepted (scale alpha / rank). */
  maxAlpha: 256,
});

/** The mask decoder sizes a delta's shapes depend on. */
export interface DecoderLoraDims {
  /** Transformer width (= image-embedding channels). */
  dim: number;
  attentionDownsampleRate: number;
  depth: number;
  maskTokens: number;
}

/** The decoder of every preset the federation knows, for an embedding width of `channels`. */
export function decoderLoraDims(channels: number): DecoderLoraDims {
  return { dim: channels, attentionDownsampleRate: 2, depth: 2, maskTokens: 4 };
}

/** A Linear layer that may carry a delta: name relative to `mask_decoder`, in and out features. */
export interface DecoderLoraLayerSpec {
  name: string;
  inDim: number;
  outDim: number;
}

/** Every layer that may carry a delta, in the decoder's state-dict order. */
export function decoderLoraLayerSpecs(dims: DecoderLoraDims): DecoderLoraLayerSpec[] {
  const d = dims.dim;
  const out: DecoderLoraLayerSpec[] = [];
  const attention = (name: string, downsample: number): void => {
    const internal = Math.floor(d / downsample);
    out.push(
      { name: `${name}.q_proj`, inDim: d, outDim: internal },
      { name: `${name}.k_proj`, inDim: d, outDim: internal },
      { name: `${name}.v_proj`, inDim: d, outDim: internal },
      { name: `${name}.out_proj`, inDim: internal, outDim: d },
    );
  };
  const ds = dims.attentionDownsampleRate;
  for (let i = 0; i < dims.depth; i++) {
    const l = `transformer.layers.${i}`;
    attention(`${l}.self_attn`, 1);
    attention(`${l}.cross_attn_token_to_image`, ds);
    attention(`${l}.cross_attn_image_to_token`, ds);
  }
  attention('transformer.final_attn_token_to_image', ds);
  const hyperOut = Math.floor(d / 8);
  for (let i = 0; i < dims.maskTokens; i++)
    for (let j = 0; j < 3; j++)
      out.push({
        name: `output_hypernetworks_mlps.${i}.layers.${j}`,
        inDim: d,
        outDim: j === 2 ? hyperOut : d,
      });
  return out;
}

/** The `decoderLora` entry of a version 2 adapter's metadata. */
export interface AdapterDecoderLoraMetadata {
  rank: number;
  alpha: number;
  /** Layers with a delta, names relative to `mask_decoder`, in the decoder's order. */
  layers: string[];
}

/** The delta's tensors (`decoder_lora.<layer>.A` [rank,in], `.B` [out,rank]) in file order. */
export function decoderLoraTensorSpecs(
  channels: number,
  lora: Pick<AdapterDecoderLoraMetadata, 'rank' | 'layers'>,
): { name: string; shape: number[] }[] {
  const byName = new Map(decoderLoraLayerSpecs(decoderLoraDims(channels)).map((s) => [s.name, s]));
  return lora.layers.flatMap((name) => {
    const s = byName.get(name);
    if (!s) throw new RangeError(`${name} is not a decoder layer that can carry a delta`);
    return [
      { name: `${ADAPTER_DECODER_LORA_PREFIX}${name}.A`, shape: [lora.rank, s.inDim] },
      { name: `${ADAPTER_DECODER_LORA_PREFIX}${name}.B`, shape: [s.outDim, lora.rank] },
    ];
  });
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Problems of a `decoderLora` metadata value for an embedding width of `channels` (empty when it is valid). */
export function decoderLoraMetadataProblems(value: unknown, channels: number): string[] {
  const where = 'metadata decoderLora';
  if (!isRecord(value)) return [`${where} must be an object {rank, alpha, layers}`];
  const p: string[] = [];
  for (const k of ['rank', 'alpha', 'layers']) if (!(k in value)) p.push(`${where}: missing key ${k}`);
  for (const k of Object.keys(value))
    if (!['rank', 'alpha', 'layers'].includes(k))
      p.push(`${where}: unknown key ${JSON.stringify(k.slice(0, 64))}`);
  const { maxRank, maxAlpha } = DECODER_LORA_LIMITS;
  const rank = value['rank'];
  if ('rank' in value && !(Number.isInteger(rank) && (rank as number) >= 1 && (rank as number) <= maxRank))
    p.push(`${where}.rank must be an integer in 1..${maxRank}, got ${JSON.stringify(rank)}`);
  const alpha = value['alpha'];
  if (
    'alpha' in value &&
    !(typeof alpha === 'number' && Number.isFinite(alpha) && alpha > 0 && alpha <= maxAlpha)
  )
    p.push(`${where}.alpha must be a number in (0, ${maxAlpha}], got ${JSON.stringify(alpha)}`);
  if ('layers' in value) {
    const layers = value['layers'];
    const allowed = decoderLoraLayerSpecs(decoderLoraDims(channels)).map((s) => s.name);
    if (!Array.isArray(layers) || layers.length === 0 || layers.length > allowed.length)
      p.push(`${where}.layers must be a list of 1..${allowed.length} decoder layer names`);
    else {
      let last = -1;
      for (const name of layers) {
        const shown = JSON.stringify(String(name).slice(0, 80));
        const at = typeof name === 'string' ? allowed.indexOf(name) : -1;
        if (at < 0) p.push(`${where}.layers: ${shown} is not a decoder layer that can carry a delta`);
        else if (at <= last) p.push(`${where}.layers: ${shown} is repeated or out of the decoder's order`);
        else last = at;
      }
    }
  }
  return p;
}

/** What an adapter carries: the Alignment Layer alone (version 1), or with a decoder delta (version 2). */
export type AdapterKind = 'align' | 'align+decoder-lora';

/** A decoder delta in numbers (what the API, the bundle manifest and the admin UI show of it). */
export interface DecoderLoraSummary {
  rank: number;
  alpha: number;
  /** How many decoder layers carry a delta. */
  layers: number;
}

/** The summary of a version 2 adapter's `decoderLora` metadata. */
export function decoderLoraSummary(lora: AdapterDecoderLoraMetadata): DecoderLoraSummary {
  return { rank: lora.rank, alpha: lora.alpha, layers: lora.layers.length };
}

/** The kind of an adapter with (or without) a decoder delta. */
export function adapterKind(decoderLora: unknown): AdapterKind {
  return decoderLora ? 'align+decoder-lora' : 'align';
}
