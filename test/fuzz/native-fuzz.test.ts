// The CI share of the libFuzzer targets (native.ts): each target built with ASan and UBSan, run for its input count
// from a fixed seed over the checked-in corpus (regression inputs included). Any crash, leak, sanitizer report,
// hang or out-of-memory fails the test and names the saved input. Needs clang and its libclang-rt runtime (set-up
// installs both); on CI a missing one fails.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { need } from '@palisade/common/testing';
import { NATIVE_TARGETS, NATIVE_TOTAL_RUNS, REPO_ROOT, nativeFuzzToolchain, runNativeTarget, type NativeFuzzTarget } from './native.js';

const toolchain = nativeFuzzToolchain();

for (const [i, t] of NATIVE_TARGETS.entries()) {
  test(`libFuzzer ${t.name} (${t.what}): ${t.runs.toLocaleString('en')} inputs under ASan and UBSan, nothing reported`, async (tc) => {
    if (!need(tc, toolchain.ok, toolchain.why)) return;
    const corpus = readdirSync(join(REPO_ROOT, 'native/fuzz/corpus', t.name));
    assert.ok(corpus.length > 0, `native/fuzz/corpus/${t.name}/ holds a seed corpus`);
    const r = await runNativeTarget(t, { runs: t.runs, seed: 0x5eed + i });
    process.stdout.write(`fuzz-native: ${t.name}: ${r.runs} inputs in ${r.seconds.toFixed(1)} s (corpus ${corpus.length} files)\n`);
    assert.ok(r.ok, `${t.name}_fuzz failed after ${r.runs} inputs${r.artifact ? `; input saved to ${r.artifact}` : ''}:\n${r.report}`);
    assert.ok(r.runs >= t.runs, `ran ${r.runs} of ${t.runs} inputs`);
  });
}

test(`the libFuzzer targets run ${NATIVE_TOTAL_RUNS.toLocaleString('en')} inputs in CI`, () => {
  assert.ok(NATIVE_TOTAL_RUNS >= 2 * 100_000);
});

// The runner must see what the sanitizers see: a target with a heap overread behind a corpus input fails, names the
// report and saves the input. Without this, a runner that ignored exit codes or reports would pass anything.
test('a sanitizer report fails the native fuzz run and saves the input', async (tc) => {
  if (!need(tc, toolchain.ok, toolchain.why)) return;
  const dir = mkdtempSync(join(tmpdir(), 'palisade-fuzz-selftest-'));
  try {
    const src = join(dir, 'overread_fuzz.cc');
    writeFileSync(src, [
      '#include <cstddef>', '#include <cstdint>', '#include <cstring>', '#include <vector>',
      'extern "C" int LLVMFuzzerTestOneInput(const uint8_t* d, size_t n) {',
      '  std::vector<uint8_t> copy(d, d + n);',
      '  volatile uint8_t sink = 0;',
      '  if (n >= 3 && memcmp(copy.data(), "OOB", 3) == 0) sink = copy.data()[n];  // one byte past the block',
      '  (void)sink;',
      '  return 0;',
      '}',
    ].join('\n'));
    const corpusDir = join(dir, 'corpus');
    mkdirSync(corpusDir);
    writeFileSync(join(corpusDir, 'oob'), 'OOB!');
    const target: NativeFuzzTarget = { name: 'selftest_overread', runs: 50, sources: [src], what: 'self-test' };
    const r = await runNativeTarget(target, { runs: target.runs, seed: 1, corpusDir });
    assert.equal(r.ok, false, 'the overread was reported');
    assert.match(r.report ?? '', /AddressSanitizer: heap-buffer-overflow/);
    assert.ok(r.artifact !== undefined && existsSync(r.artifact), `the input was saved (${r.artifact})`);
    rmSync(r.artifact, { force: true });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
