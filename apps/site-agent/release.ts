// `@casam/site-agent/release`: what the offline packer (scripts/pack-offline.ts) needs of the site agent: the
// version it stamps on the bundle and the ONNX export it ships precomputed. The export is loaded on call, so
// packing the coordinator never loads the ML.
import type { exportCheckpointOnnx as ExportCheckpointOnnx } from './src/use-cases/export-onnx';

export { AGENT_VERSION } from './src/version';

export async function exportCheckpointOnnx(
  ...args: Parameters<typeof ExportCheckpointOnnx>
): ReturnType<typeof ExportCheckpointOnnx> {
  const m = await import('./src/use-cases/export-onnx');
  return m.exportCheckpointOnnx(...args);
}
