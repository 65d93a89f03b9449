// `@casam/coordinator/testing`: what other projects' tests need to run a coordinator (a throwaway Postgres cluster).
export * from './postgres-cluster';
