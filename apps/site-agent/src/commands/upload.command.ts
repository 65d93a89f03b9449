import { isUploadChunkSize, UPLOAD_LIMITS } from '@casam/protocol';
import type { Command } from './command';
import { openAgent } from '../use-cases/agent-context';
import { checkUploadVerdict, trainedVerdict, uploadAdapter } from '../use-cases/upload-adapter';
import { EXIT, UserError } from '../cli/errors';
import { HOME_HELP, HOME_OPTION } from './home-option';

const DEFAULT_CHUNK = 1024 * 1024;

export const uploadCommand: Command = {
  name: 'upload',
  summary: "send the task's adapter weights (and only them), chunked and resumable",
  usage: `site-agent upload --task <name> [--chunk-size <bytes>] [--force] [--home <dir>]
  --chunk-size <bytes>      bytes per chunk (default 1 MiB)
  --force                   upload an adapter that validated worse than frozen SAM (refused otherwise)
An interrupted upload (network cut, coordinator restart, Ctrl-C) continues on the next run without resending
the chunks the coordinator already holds.
${HOME_HELP}`,
  options: {
    ...HOME_OPTION,
    task: { type: 'string' },
    'chunk-size': { type: 'string' },
    force: { type: 'boolean' },
  },
  async run(v, log) {
    const ctx = await openAgent(v.string('home'));
    const chunkSize = v.string('chunk-size') ? Number(v.string('chunk-size')) : DEFAULT_CHUNK;
    if (!isUploadChunkSize(chunkSize))
      throw new UserError(
        `--chunk-size must be ${UPLOAD_LIMITS.minChunkBytes}..${UPLOAD_LIMITS.maxChunkBytes} bytes`,
        EXIT.usage,
      );
    const name = v.string('task', true);
    const verdict = trainedVerdict(ctx, name);
    if (verdict) log(checkUploadVerdict(name, verdict, v.bool('force')));
    console.log(await uploadAdapter(ctx, name, chunkSize, log));
  },
};
