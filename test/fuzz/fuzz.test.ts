// The CI share of the fuzzing: every target with its bounded run count (TOTAL_RUNS, over a million inputs), fixed
// seeds so a failure reproduces, and the regressions found so far. `npm run fuzz` runs the same targets for longer.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { STAGE_TARGETS, closeStageHarnesses } from './stage-targets.js';
import { TARGETS, TOTAL_RUNS } from './targets.js';

test(`the fuzz targets hold their invariants over ${TOTAL_RUNS.toLocaleString('en')} inputs`, () => {
  assert.ok(TOTAL_RUNS >= 1_000_000, 'CI runs at least a million fuzz inputs');
  for (const [i, t] of TARGETS.entries()) {
    const started = Date.now();
    fc.assert(t.property(), { numRuns: t.runs, seed: 0x9a115ade + i, endOnFailure: true });
    process.stdout.write(`fuzz: ${t.name}: ${t.runs} inputs in ${Date.now() - started} ms\n`);
  }
});

const STAGE_RUNS = STAGE_TARGETS.reduce((n, t) => n + t.runs, 0);

test(`every stage's decode and handle path holds over ${STAGE_RUNS.toLocaleString('en')} record batches on a MemoryBus`, async (t) => {
  t.after(() => closeStageHarnesses());
  for (const [i, st] of STAGE_TARGETS.entries()) {
    const started = Date.now();
    await fc.assert(st.property(), { numRuns: st.runs, seed: 0x57a9e + i, endOnFailure: true });
    process.stdout.write(`fuzz: ${st.name}: ${st.runs} inputs in ${Date.now() - started} ms\n`);
  }
});
