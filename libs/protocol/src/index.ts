export * from './version';
export * from './tensor-payload';
export * from './api';
export * from './adapter-schema';
export * from './adapter-file-validation';
export * from './ustar';
export * from './bundle';
export * from './realtime';
