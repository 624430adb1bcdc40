// `npm run fuzz [-- --times N] [--seed S] [--native | --ts] [--runs N]`: every fast-check target of targets.ts and
// every libFuzzer target of native.ts with N times its CI run count (default 10), from a fresh random seed unless
// one is given. --native or --ts runs only that half; --runs N gives each libFuzzer target exactly N inputs
// (libFuzzer's -runs=N). A failure prints the counterexample (fast-check) or the sanitizer report and the saved
// input (libFuzzer) and the seed to replay it, and exits 1; turn it into a regression test next to the code it broke
// (or, native, a `regress-*` input in native/fuzz/corpus/<target>/).
import fc from 'fast-check';
import { NATIVE_TARGETS, nativeFuzzToolchain, runNativeTarget } from './native.js';
import { STAGE_TARGETS, closeStageHarnesses } from './stage-targets.js';
import { TARGETS } from './targets.js';

const args = process.argv.slice(2);
const value = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const times = Number(value('--times') ?? '10');
const seed = Number(value('--seed') ?? Math.floor(Math.random() * 2 ** 31));
const nativeRuns = value('--runs') === undefined ? undefined : Number(value('--runs'));
const onlyNative = args.includes('--native');
const onlyTs = args.includes('--ts');
if (!(times > 0) || !Number.isFinite(seed) || (nativeRuns !== undefined && !(nativeRuns > 0)) || (onlyNative && onlyTs)) {
  process.stderr.write('usage: npm run fuzz -- [--times N] [--seed S] [--native | --ts] [--runs N]\n');
  process.exit(2);
}
let total = 0;
let failed = false;
if (!onlyNative) {
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
}
if (!onlyTs) {
  const toolchain = nativeFuzzToolchain();
  if (!toolchain.ok) {
    failed = true;
    process.stdout.write(`FAIL libFuzzer targets: ${toolchain.why}\n`);
  } else {
    for (const [i, t] of NATIVE_TARGETS.entries()) {
      const runs = nativeRuns ?? Math.round(t.runs * times);
      const r = await runNativeTarget(t, { runs, seed: seed + 1000 + i });
      total += r.runs;
      if (!r.ok) {
        failed = true;
        process.stdout.write(`FAIL libFuzzer ${t.name} after ${r.runs} inputs (-seed=${seed + 1000 + i})` +
          `${r.artifact ? `, input saved to ${r.artifact}` : ''}:\n${r.report ?? ''}\n`);
      } else {
        process.stdout.write(`ok   libFuzzer ${t.name} (${t.what}): ${r.runs} inputs in ${r.seconds.toFixed(1)} s\n`);
      }
    }
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
