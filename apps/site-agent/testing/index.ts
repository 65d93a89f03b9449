// `@casam/site-agent/testing`: the site agent's own parts that benchmarks drive in-process, so they measure the
// agent and not a copy of it: enrollment and the bundle pull path (identity, client, egress gateway and log,
// fleet connection, pull and install into a bundle store) for bench:federation's simulated sites, and the
// segmentation server for bench:site's serve over HTTP. e2e drives the agent as a process instead.
export { BundleStore } from '../src/bundle/bundle-store';
export type { ActiveBundle } from '../src/bundle/installed-bundle';
export { BundleRefusedError, pullBundle } from '../src/bundle/pull-bundle';
export { CoordinatorClient } from '../src/coordinator/coordinator-client';
export { FleetConnection } from '../src/daemon/fleet-connection';
export { EgressGateway } from '../src/egress/egress';
export { EgressLog } from '../src/egress/egress-log';
export type { AgentState } from '../src/home/agent-home';
export { SiteIdentity } from '../src/identity/site-identity';
export { SegmentationServer } from '../src/serve/segmentation-server';
export { parseServerTiming, SERVER_TIMING_STEPS } from '../src/serve/server-timing';
export { AGENT_VERSION } from '../src/version';
