export * from './version';
export * from './tensor-payload';
