import { parseArgs } from 'node:util';
import type { Command } from './commands/command';
import { OptionValues } from './commands/command';
import { EXIT, permissionProblem, UserError } from './cli/errors';
import { printableLines } from './cli/printable';

/** The command exported as `name` by ./commands/<file>, required when asked for. */
function lazy(file: string, name: string): () => Command {
  return () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const command = (require(`./commands/${file}`) as Record<string, Command | undefined>)[name];
    if (!command) throw new Error(`./commands/${file} exports no ${name}`);
    return command;
  };
}

/**
 * The commands, each module loaded only when its command runs. A command module pulls in what it needs (TF.js,
 * ONNX Runtime, dcmjs, the coordinator client…); loading all sixteen cost every invocation ~0.3–0.4 s of CPU
 * before it did anything (one module alone 1.0–1.4 s, all of them 1.44 s, through tsx on a loaded 2-core
 * machine), and the demo starts the agent 45 times. `require`, not `import()`: the bin registers tsx's
 * CommonJS hook only, under which an `import()` of a .ts file does not resolve.
 */
const COMMANDS: { name: string; load: () => Command }[] = [
  { name: 'init', load: lazy('init.command', 'initCommand') },
  { name: 'preflight', load: lazy('preflight.command', 'preflightCommand') },
  { name: 'enroll', load: lazy('enroll.command', 'enrollCommand') },
  { name: 'ingest', load: lazy('ingest.command', 'ingestCommand') },
  { name: 'propose', load: lazy('propose.command', 'proposeCommand') },
  { name: 'train', load: lazy('train.command', 'trainCommand') },
  { name: 'upload', load: lazy('upload.command', 'uploadCommand') },
  { name: 'pull', load: lazy('pull.command', 'pullCommand') },
  { name: 'rollback', load: lazy('pull.command', 'rollbackCommand') },
  { name: 'serve', load: lazy('serve.command', 'serveCommand') },
  { name: 'daemon', load: lazy('daemon.command', 'daemonCommand') },
  { name: 'rotate-key', load: lazy('rotate-key.command', 'rotateKeyCommand') },
  { name: 'status', load: lazy('status.command', 'statusCommand') },
  { name: 'embed', load: lazy('embed.command', 'embedCommand') },
  { name: 'segment', load: lazy('segment.command', 'segmentCommand') },
  { name: 'export-onnx', load: lazy('export-onnx.command', 'exportOnnxCommand') },
];

/** Every command, each loaded (help, and the spec that checks the registry against the commands' own names). */
export function allCommands(): { name: string; command: Command }[] {
  return COMMANDS.map((c) => ({ name: c.name, command: c.load() }));
}

function usage(): string {
  return `usage: site-agent <command> [options]

commands:
${allCommands()
  .map((c) => `  ${c.name.padEnd(12)} ${c.command.summary}`)
  .join('\n')}

Run "site-agent <command> --help" for a command's options.`;
}

/**
 * Runs one command. Every log line and error message goes through printableLines: commands escape what came
 * from the coordinator or a bundle where they insert it, and this is the safety net for anything they missed
 * (control characters other than the line breaks the program itself wrote are shown escaped).
 */
export async function main(
  argv: string[],
  log: (l: string) => void = (l) => console.error(printableLines(l)),
): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return name ? EXIT.ok : EXIT.usage;
  }
  const cmd = COMMANDS.find((c) => c.name === name)?.load();
  try {
    if (!cmd) throw new UserError(`unknown command "${name}"\n${usage()}`, EXIT.usage);
    if (rest.includes('--help') || rest.includes('-h')) {
      console.log(`usage: ${cmd.usage}`);
      return EXIT.ok;
    }
    let parsed;
    try {
      parsed = parseArgs({ args: rest, options: cmd.options, strict: true, allowPositionals: false });
    } catch (e) {
      throw new UserError(
        `${(e as Error).message.split('\n')[0]} (see site-agent ${cmd.name} --help)`,
        EXIT.usage,
      );
    }
    await cmd.run(new OptionValues(parsed.values as ConstructorParameters<typeof OptionValues>[0]), log);
    return EXIT.ok;
  } catch (e) {
    const denied = permissionProblem(e);
    if (denied) {
      console.error(`site-agent: error: ${denied.message}`);
      return denied.exitCode;
    }
    if (e instanceof UserError) {
      console.error(`site-agent: error: ${printableLines(e.message)}`);
      return e.exitCode;
    }
    // An image no model input can take (casam-core's ImageShapeError, e.g. a 1×700 strip) is the user's input.
    // Told by name: this file loads no ML code at start-up (see above).
    if (e instanceof Error && e.name === 'ImageShapeError') {
      console.error(`site-agent: error: ${printableLines(e.message)}`);
      return EXIT.input;
    }
    console.error('site-agent: internal error (this is a bug):');
    console.error(e);
    return EXIT.internal;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
