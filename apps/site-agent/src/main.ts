import { parseArgs } from 'node:util';
import { Command, OptionValues } from './commands/command';
import { embedCommand } from './commands/embed.command';
import { segmentCommand } from './commands/segment.command';
import { exportOnnxCommand } from './commands/export-onnx.command';
import { initCommand } from './commands/init.command';
import { enrollCommand } from './commands/enroll.command';
import { statusCommand } from './commands/status.command';
import { ingestCommand } from './commands/ingest.command';
import { proposeCommand } from './commands/propose.command';
import { trainCommand } from './commands/train.command';
import { uploadCommand } from './commands/upload.command';
import { pullCommand, rollbackCommand } from './commands/pull.command';
import { serveCommand } from './commands/serve.command';
import { daemonCommand } from './commands/daemon.command';
import { rotateKeyCommand } from './commands/rotate-key.command';
import { preflightCommand } from './commands/preflight.command';
import { EXIT, permissionProblem, UserError } from './cli/errors';
import { printableLines } from './cli/printable';

const COMMANDS: Command[] = [
  initCommand,
  preflightCommand,
  enrollCommand,
  ingestCommand,
  proposeCommand,
  trainCommand,
  uploadCommand,
  pullCommand,
  rollbackCommand,
  serveCommand,
  daemonCommand,
  rotateKeyCommand,
  statusCommand,
  embedCommand,
  segmentCommand,
  exportOnnxCommand,
];

function usage(): string {
  return `usage: site-agent <command> [options]

commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(12)} ${c.summary}`).join('\n')}

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
  const cmd = COMMANDS.find((c) => c.name === name);
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
    console.error('site-agent: internal error (this is a bug):');
    console.error(e);
    return EXIT.internal;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
