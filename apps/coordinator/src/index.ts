export { COORDINATOR_VERSION } from './version';
