// `@casam/coordinator/testing`: what other projects' tests, the benchmarks and the demo need to run a coordinator
// (a real process with an admin, a throwaway Postgres cluster) and to be a site of it without the agent (plain
// HTTP and socket.io). The parts bench:coordinator drives in one process are `@casam/coordinator/testing/in-process`.
export {
  adminLogin,
  adminSession,
  type CoordinatorProcess,
  type CoordinatorProcessOptions,
  runCoordinatorCli,
  type ServeOptions,
  spawnCoordinatorServe,
  startCoordinatorProcess,
} from './coordinator-process';
export { freePort } from './free-port';
export {
  createPostgresDatabase,
  type PostgresCluster,
  postgresBinariesAvailable,
  startPostgresCluster,
} from './postgres-cluster';
export {
  enrollHttpSite,
  type HttpSite,
  testAdapterFile,
  type UploadAttempt,
  type UploadHooks,
} from './http-site';
