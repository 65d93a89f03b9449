import { CoordinatorClient } from '../coordinator/coordinator-client';
import { EgressGateway } from '../egress/egress';
import { EgressLog } from '../egress/egress-log';
import { outboundRoute, ProxyError } from '../egress/proxy';
import { EXIT, UserError } from '../cli/errors';
import { AgentHome, type AgentConfig } from '../home/agent-home';
import { SiteIdentity, SiteKeyError } from '../identity/site-identity';

export interface AgentContext {
  home: AgentHome;
  config: AgentConfig;
  identity: SiteIdentity;
  client: CoordinatorClient;
}

/**
 * Opens the agent home: config, key, egress gateway and coordinator client; clear errors when any is missing.
 * Every use case that talks to the coordinator starts here (commands, the daemon).
 */
export async function openAgent(homeDir: string | undefined): Promise<AgentContext> {
  const home = new AgentHome(homeDir);
  const config = home.readConfig();
  let identity: SiteIdentity;
  try {
    identity = await SiteIdentity.load(home.keyFile);
  } catch (e) {
    if (e instanceof SiteKeyError) throw new UserError(e.message, EXIT.input);
    throw e;
  }
  let route;
  try {
    route = outboundRoute(config.coordinatorUrl);
  } catch (e) {
    if (e instanceof ProxyError) throw new UserError(e.message, EXIT.usage);
    throw e;
  }
  const egress = new EgressGateway(
    config.coordinatorUrl,
    new EgressLog(home.egressLogFile),
    route.fetchImpl,
    route.agent,
  );
  const client = new CoordinatorClient(egress, identity, home.readState().siteId ?? null);
  return { home, config, identity, client };
}
