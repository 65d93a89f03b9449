import type { AdapterVersionSummary } from '@casam/protocol';

/**
 * What an adapter version carries, as an admin reads it: "Alignment Layer", or "Alignment Layer + decoder LoRA
 * (rank 4, 30 layers)" for a version 2 adapter with a per-task decoder delta. Written here rather than imported
 * from the protocol library: the UI takes only types from it, so its runtime (zod) stays out of the browser.
 */
export function adapterKindText(v: Pick<AdapterVersionSummary, 'decoderLora'>): string {
  const lora = v.decoderLora;
  if (!lora) return 'Alignment Layer';
  return `Alignment Layer + decoder LoRA (rank ${lora.rank}, ${lora.layers} layer${lora.layers === 1 ? '' : 's'})`;
}

/**
 * The warning beside Approve when enrolled sites run an agent too old to read the version's format, e.g.
 * "2 sites run an agent that cannot read format 2 (needs ≥ 0.2.0): north (0.1.0), south (version unknown)";
 * null when every site can read it (or the answer carries no compatibility).
 */
export function compatibilityText(v: Pick<AdapterVersionSummary, 'compatibility'>): string | null {
  const c = v.compatibility;
  if (!c || c.sitesUnableToRead.length === 0) return null;
  const n = c.sitesUnableToRead.length;
  const names = c.sitesUnableToRead
    .map((s) => `${s.name} (${s.agentVersion ?? 'version unknown'})`)
    .join(', ');
  return (
    `${n} site${n === 1 ? ' runs' : 's run'} an agent that cannot read format ${c.formatVersion} ` +
    `(needs ≥ ${c.firstAgentVersion}): ${names}. Approving anyway is recorded in the audit log; ` +
    `those sites cannot use the next bundle until they upgrade.`
  );
}
