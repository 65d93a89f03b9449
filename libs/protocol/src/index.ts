export * from './version';
export * from './tensor-payload';
export * from './api';
