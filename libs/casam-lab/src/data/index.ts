// Synthetic data for benchmarks and pretraining: the domains, their scenes and drawing primitives, contact sheets.
export * from './synthetic-domains';
export * from './contact-sheet';
export * from './domain-items';
export type { DomainDefinition, SceneOutput } from './scenes/scene';
