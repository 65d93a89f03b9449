import type { AdapterVersionSummary } from '@casam/protocol';

/**
 * What an adapter version carries, as an admin reads it: "Alignment Layer", or "Alignment Layer + decoder LoRA
 * (rank 4, 30 layers)" for a version 2 adapter with a per-task decoder delta. Written here rather than imported
 * from the protocol library: the UI takes only types from it, so its runtime (zod) stays out of the browser.
 */
export function adapterKindText(v: Pick<AdapterVersionSummary, 'decoderLora'>): string {
  const lora = v.decoderLora;
  if (!lora) return 'Alignment Layer';
  return `Alignment Layer + decoder LoRA (rank ${lora.rank}, ${lora.layers} layer${lora.layers === 1 ? '' : 's'})`;
}
