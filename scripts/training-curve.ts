/**
 * `npm run pretrain:curve -- --model models/casam-tiny [--model …]` — draws each model folder's
 * `training-curve.png` from its `training-log.jsonl` (held-out IoU at every evaluation, training-batch IoU
 * between them). `npm run pretrain` writes it on export; this redraws it for folders exported before that, or
 * after the log grew. Reads no weights and evaluates nothing.
 * Exit codes: 0 drawn, 2 usage error, 3 a folder without a usable log (the others are still drawn).
 */
import { basename, resolve } from 'node:path';
import { EXIT_CODES } from '@casam/protocol';
import { TrainingCurveError, parseCliArgs, writeTrainingCurve } from '@casam/casam-lab';

const USAGE = `usage: npm run pretrain:curve -- --model <folder> [--model <folder> …]
  --model <folder>   a model folder with a training-log.jsonl (repeatable); writes <folder>/training-curve.png
  --help, -h         print this text`;

const v = parseCliArgs(USAGE, { model: { type: 'string', multiple: true } });
const dirs = v.model ?? [];
if (dirs.length === 0) {
  console.error(`error: name at least one --model folder\n${USAGE}`);
  process.exit(EXIT_CODES.usage);
}
let failed = 0;
for (const dir of dirs) {
  try {
    const r = writeTrainingCurve(dir, `${basename(resolve(dir))}: pretraining`);
    console.log(`${r.path}: ${r.points} evaluations`);
  } catch (e) {
    if (!(e instanceof TrainingCurveError)) throw e;
    console.error(`${dir}: ${e.message}`);
    failed++;
  }
}
if (failed) process.exit(EXIT_CODES.input);
