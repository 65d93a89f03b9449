// `@casam/casam-core/testing`: the test kit, kept out of the product API (src/index.ts).
export * from './src/testing';
