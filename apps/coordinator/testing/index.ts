// `@casam/coordinator/testing`: what other projects' tests, the benchmarks and the demo need to run a coordinator
// (a real process with an admin, a throwaway Postgres cluster).
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
