import { EXIT, UserError } from '../cli/errors';
import { CoordinatorError, CoordinatorUnreachableError } from '../coordinator/coordinator-client';
import type { Command } from './command';
import { openAgent } from '../use-cases/agent-context';
import { rotateKey } from '../use-cases/rotate-key';
import { HOME_HELP, HOME_OPTION } from './home-option';

export const rotateKeyCommand: Command = {
  name: 'rotate-key',
  summary: "replace the site's key: a new one is registered, the old one keeps working for a grace period",
  usage: `site-agent rotate-key [--home <dir>]
Generates a new Ed25519 key, registers it with the coordinator (proof of possession, authenticated with the
current key) and swaps it in; the previous key is kept in keys/site-key.previous.jwk. An interrupted rotation
is finished by running the command again. The daemon does this by itself when an admin asks for a rotation.
${HOME_HELP}`,
  options: { ...HOME_OPTION },
  async run(v, log) {
    const ctx = await openAgent(v.string('home'));
    try {
      const result = await rotateKey(ctx, log);
      console.log(
        `site key rotated: ${result.previousFingerprint} → ${result.fingerprint}` +
          (result.previousNotAfter ? `; the previous key works until ${result.previousNotAfter}` : ''),
      );
    } catch (e) {
      if (e instanceof CoordinatorError)
        throw new UserError(`coordinator refused the rotation: ${e.message} [${e.code}]`, EXIT.input);
      if (e instanceof CoordinatorUnreachableError)
        throw new UserError(`${e.message}; the current key stays in use (run again later)`, EXIT.backend);
      throw e;
    }
  },
};
