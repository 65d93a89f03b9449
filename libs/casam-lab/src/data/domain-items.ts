/**
 * Synthetic-domain images as trainer input: the generator's items as TrainingItems, and the first N items of
 * each of a domain's splits in generator order (the same images on every run). The benchmarks (continual,
 * τ data, AL learning rate, base model) and the engine-parity spec draw their images here.
 */
import type { TrainingItem } from '@casam/casam-core';
import { generateDomain } from './synthetic-domains';

export type Split = 'train' | 'val' | 'test';

export function toTrainingItem(it: ReturnType<typeof generateDomain>[number]): TrainingItem {
  return {
    id: it.id,
    image: it.image,
    masks: it.masks.map((m) => ({ classId: m.className, mask: m.data })),
  };
}

/** The first `counts[split]` items of each named split of `domain` (the generator's own splits). */
export function splitItems(
  domain: string,
  counts: Partial<Record<Split, number>>,
  data: { size: number; seed: number },
): Record<Split, TrainingItem[]> {
  const out: Record<Split, TrainingItem[]> = { train: [], val: [], test: [] };
  const want = (s: Split): number => counts[s] ?? 0;
  const short = (): boolean => (['train', 'val', 'test'] as const).some((s) => out[s].length < want(s));
  for (let start = 0; short(); start += 16)
    for (const it of generateDomain(domain, { count: 16, start, size: data.size, seed: data.seed }))
      if (out[it.split].length < want(it.split)) out[it.split].push(toTrainingItem(it));
  return out;
}
