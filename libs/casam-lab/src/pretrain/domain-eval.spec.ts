import { describe, expect, it } from 'vitest';
import { DOMAIN_NAMES, UNSEEN_DOMAIN_NAMES, generateDomain } from '../data/synthetic-domains';
import { EVAL_DOMAINS, makeDomainEvalSet, summariseDomainEval } from './domain-eval';
import type { EvalResult } from './evaluate';

describe('domain evaluation set', () => {
  const set = makeDomainEvalSet(2, 128);

  it('takes validation images of all 12 domains, with a tight box per region', () => {
    expect(EVAL_DOMAINS).toEqual([...DOMAIN_NAMES, ...UNSEEN_DOMAIN_NAMES]);
    const groups = set.samples.map((s) => s.group);
    for (const d of EVAL_DOMAINS) expect(groups.filter((g) => g === d)).toHaveLength(2);
    for (const s of set.samples) {
      expect(s.image).toHaveLength(128 * 128 * 3);
      expect(s.targets.length).toBeGreaterThan(0);
      for (const t of s.targets) {
        expect(t.prompt).toEqual({ kind: 'box', box: t.bbox });
        expect(t.area).toBeGreaterThan(0);
      }
    }
  });

  it('never uses a test (or train) image of the benchmark', () => {
    // Items are generated in order; the set's images must be exactly the first validation items of each domain.
    for (const d of ['acdc-cardiac-mr', 'sts-dental-xray']) {
      const items = generateDomain(d, { count: 48, size: 128, seed: 1 });
      const val = items.filter((it) => it.split === 'val').slice(0, 2);
      const mine = set.samples.filter((s) => s.group === d);
      expect(mine.map((s) => Buffer.from(s.image).toString('base64'))).toEqual(
        val.map((it) => Buffer.from(it.image.data).toString('base64')),
      );
    }
  });

  it('summarises per domain, each domain weighing the same', () => {
    const r: EvalResult = {
      boxIou: 0,
      boxFillIou: 0,
      pointIou: 0,
      targets: 3,
      byShape: {
        a: { boxIou: 0.9, boxFillIou: 0.7, count: 100 },
        b: { boxIou: 0.5, boxFillIou: 0.6, count: 1 },
        c: { boxIou: 0.6, boxFillIou: 0.6, count: 1 },
      },
    };
    const s = summariseDomainEval(r);
    expect(s.meanBoxIou).toBeCloseTo(2 / 3, 10);
    expect(s.meanBoxFillIou).toBeCloseTo(1.9 / 3, 10);
    expect(s.domainsAtOrAboveBoxFill).toBe(2);
    expect(s.domains).toBe(3);
  });
});
