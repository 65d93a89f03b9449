/**
 * Use case: the local segmentation API — the agent home's base model, the installed router bundle (swapped in
 * within a second when pull, the daemon or rollback install another), listening on `host:port`.
 * `site-agent serve` calls it and stops the server on Ctrl-C.
 */
import { BundleStore } from '../bundle/bundle-store';
import { loadActiveBundle } from '../bundle/installed-bundle';
import type { AgentHome } from '../home/agent-home';
import { type EngineChoice, loadBaseModel } from '../model/engine-factory';
import { BUNDLE_POINTER, SegmentationServer } from '../serve/segmentation-server';

export interface ServeSegmentationInput {
  home: AgentHome;
  host: string;
  /** 0 picks a free port. */
  port: number;
  engine: EngineChoice;
  log: (l: string) => void;
}

/** Starts the server; its URL (with the port it got) and the server, to close. */
export async function serveSegmentation(
  o: ServeSegmentationInput,
): Promise<{ server: SegmentationServer; url: string }> {
  const { home, log } = o;
  const config = home.readConfig();
  const base = await loadBaseModel(home, config, log, o.engine);
  const store = new BundleStore(home.bundlesDir);
  const server = new SegmentationServer({
    engine: base.engine,
    createSegmenter: (adapters) => base.createSegmenter(adapters),
    loadBundle: () => loadActiveBundle(store, home.readState(), base.fingerprint, base.config.outChans, log),
    bundlePointerFile: BUNDLE_POINTER(home.bundlesDir),
    host: o.host,
    port: o.port,
    maxRequestBytes: config.serve.maxRequestBytes,
    maxImagePixels: config.serve.maxImagePixels,
    baseModel: { preset: base.config.name, fingerprint: base.fingerprint },
    log,
  });
  return { server, url: await server.start() };
}
