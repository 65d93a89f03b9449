export {};
export {
  ORTHANC_BIN,
  ORTHANC_DICOMWEB_PLUGIN,
  orthancAvailable,
  type OrthancOptions,
  type OrthancServer,
  startOrthanc,
} from './orthanc-server';
export { type TestInstanceOptions, writeTestInstance } from './test-instance';
