import { readFileSync } from 'node:fs';
import { EXIT, UserError } from '../cli/errors';
import { printable } from '../cli/printable';
import type { OptionValues } from './command';
import { CoordinatorError, CoordinatorUnreachableError } from '../coordinator/coordinator-client';
import type { Command } from './command';
import { openAgent } from '../use-cases/agent-context';
import { HOME_HELP, HOME_OPTION } from './home-option';
import { enrollmentDecision, enrollSite } from '../use-cases/enroll-site';

export const enrollCommand: Command = {
  name: 'enroll',
  summary: 'register the site key with the coordinator (one-time token); report or wait for approval',
  usage: `site-agent enroll (--token-file <file> | --token - | --token <cset_…>) [--wait <seconds>] [--home <dir>]
  --token-file <file>       read the one-time enrollment token from this file (first line)
  --token -                 read it from stdin (a pipe, or typed at the prompt)
  --token <token>           the token itself: other users of this machine can see it in ps while enroll runs
  --wait <seconds>          after enrolling (or if already enrolled), wait up to this long for the admin's decision
The token (from the federation admin) is read only when the site is not enrolled yet.
${HOME_HELP}`,
  options: {
    ...HOME_OPTION,
    token: { type: 'string' },
    'token-file': { type: 'string' },
    wait: { type: 'string' },
  },
  async run(v, log) {
    const ctx = await openAgent(v.string('home'));
    const waitS = v.string('wait') === undefined ? 0 : Number(v.string('wait'));
    if (!Number.isFinite(waitS) || waitS < 0)
      throw new UserError('--wait must be a number of seconds', EXIT.usage);
    try {
      const r = await enrollSite(ctx, () => enrollmentToken(v));
      if (r.kind === 'enrolled')
        log(
          `enrolled "${ctx.config.siteName}" as site ${printable(r.siteId)}; pinned ${r.pinnedKeys} coordinator signing key(s)`,
        );
      else log(`already enrolled as site ${printable(r.siteId)}`);
      console.log(`site key fingerprint: ${ctx.identity.fingerprint}`);
      console.log(
        'give this fingerprint to the federation admin (by phone or in person); they must see the same one to approve',
      );
      const status = await enrollmentDecision(ctx, waitS, (s) =>
        log(`waiting up to ${s} s for the admin's decision…`),
      );
      console.log(`enrollment: ${status}`);
      if (status === 'rejected' || status === 'revoked')
        throw new UserError(
          `the coordinator says this site is ${status}; contact the federation admin`,
          EXIT.input,
        );
    } catch (e) {
      if (e instanceof CoordinatorError) throw new UserError(`coordinator refused: ${e.message}`, EXIT.input);
      if (e instanceof CoordinatorUnreachableError) throw new UserError(e.message, EXIT.backend);
      throw e;
    }
  },
};

const TOKEN = /^cset_[A-Za-z0-9_-]{20,100}$/;

/**
 * The one-time enrollment token: from `--token-file`, from stdin (`--token -`), or from `--token` itself, which
 * any user of the machine can read in `ps` while the command runs (the file or stdin keep it out of argv).
 */
async function enrollmentToken(v: OptionValues): Promise<string> {
  const arg = v.string('token');
  const file = v.string('token-file');
  if (arg !== undefined && file !== undefined)
    throw new UserError(
      'give the token one way: --token-file <file>, --token - (stdin) or --token <token>',
      EXIT.usage,
    );
  let raw: string;
  let from: string;
  if (file !== undefined) {
    from = file;
    try {
      raw = readFileSync(file, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new UserError(
        `cannot read --token-file ${file}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (e as Error).message}`,
        EXIT.input,
      );
    }
  } else if (arg === '-') {
    from = 'stdin';
    raw = await readLine(process.stdin);
  } else if (arg !== undefined) {
    from = '--token';
    raw = arg;
  } else
    throw new UserError(
      'missing the enrollment token: --token-file <file>, --token - (read from stdin) or --token <token>',
      EXIT.usage,
    );
  const token = raw.split('\n')[0].trim();
  if (!token) throw new UserError(`no enrollment token in ${from}`, EXIT.usage);
  // Never echoed: a token pasted in the wrong place must not end up in a terminal log.
  if (!TOKEN.test(token))
    throw new UserError(
      `${from} does not hold an enrollment token (cset_ followed by 20..100 letters, digits, _ or -)`,
      EXIT.usage,
    );
  return token;
}

/** The first line of a stream (without the line break), or all of it when it ends first; at most 4 KiB. */
function readLine(stream: NodeJS.ReadStream): Promise<string> {
  if (stream.isTTY) process.stderr.write('enrollment token: ');
  return new Promise((resolve, reject) => {
    let buf = '';
    const finish = (err: Error | null) => {
      stream.removeListener('data', onData);
      stream.removeListener('end', onEnd);
      stream.removeListener('error', onError);
      stream.pause();
      if (err) reject(err);
      else resolve(buf.split('\n')[0]);
    };
    const onData = (d: string) => {
      buf += d;
      if (buf.includes('\n')) finish(null);
      else if (buf.length > 4096)
        finish(new UserError('stdin holds no enrollment token (no line break in 4 KiB)', EXIT.usage));
    };
    const onEnd = () => finish(null);
    const onError = (e: Error) =>
      finish(new UserError(`cannot read the token from stdin: ${e.message}`, EXIT.input));
    stream.setEncoding('utf8');
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', onError);
  });
}
