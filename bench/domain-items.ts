/** The benchmarks' synthetic-domain items: the lab's splitItems (libs/casam-lab/src/data/domain-items.ts). */
export { type Split, splitItems, toTrainingItem } from '@casam/casam-lab';
