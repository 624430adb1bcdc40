// `npm run fuzz [-- --times N] [--seed S]`: every target of targets.ts with N times its CI run count (default 10),
// from a fresh random seed unless one is given. A failure prints the counterexample and the seed to replay it, and
// exits 1; turn it into a regression test next to the code it broke.
import fc from 'fast-check';
import { STAGE_TARGETS, closeStageHarnesses } from './stage-targets.js';
import { TARGETS } from './targets.js';

const args = process.argv.slice(2);
const value = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const times = Number(value('--times') ?? '10');
const seed = Number(value('--seed') ?? Math.floor(Math.random() * 2 ** 31));
if (!(times > 0) || !Number.isFinite(seed)) {
  process.stderr.write('usage: npm run fuzz -- [--times N] [--seed S]\n');
  process.exit(2);
}
let total = 0;
let failed = false;
for (const [i, t] of TARGETS.entries()) {
  const runs = Math.round(t.runs * times);
  const started = Date.now();
  const out = fc.check(t.property(), { numRuns: runs, seed: seed + i, endOnFailure: true });
  total += out.numRuns;
  if (out.failed) {
    failed = true;
    process.stdout.write(`FAIL ${t.name} after ${out.numRuns} inputs (seed ${seed + i}): ${fc.stringify(out.counterexample)}\n` +
      `  ${String(out.errorInstance ?? '')}\n`);
  } else {
    process.stdout.write(`ok   ${t.name}: ${runs} inputs in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  }
}
for (const [i, t] of STAGE_TARGETS.entries()) {
  const runs = Math.round(t.runs * times);
  const started = Date.now();
  const out = await fc.check(t.property(), { numRuns: runs, seed: seed + TARGETS.length + i, endOnFailure: true });
  total += out.numRuns;
  if (out.failed) {
    failed = true;
    process.stdout.write(`FAIL ${t.name} after ${out.numRuns} inputs (seed ${seed + TARGETS.length + i}): ` +
      `${fc.stringify(out.counterexample)}\n  ${String(out.errorInstance ?? '')}\n`);
  } else {
    process.stdout.write(`ok   ${t.name}: ${runs} inputs in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  }
}
await closeStageHarnesses();
process.stdout.write(`${total} inputs, seed ${seed}${failed ? ', FAILED' : ''}\n`);
process.exit(failed ? 1 : 0);
