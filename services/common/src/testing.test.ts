import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { waitFor } from './testing.js';

describe('waitFor', () => {
  it('returns the first truthy value the probe gives, sync or async', async () => {
    const answers = [undefined, false, 0, '', null, { n: 3 }, { n: 4 }];
    let calls = 0;
    const got = await waitFor('the third answer', () => answers[calls++], { intervalMs: 1 });
    assert.deepEqual(got, { n: 3 });
    assert.equal(calls, 6, 'no probe after the first truthy value');
    let n = 0;
    assert.equal(await waitFor('two async calls', async () => ++n >= 2 && 'done', { intervalMs: 1 }), 'done');
  });

  it('calls a probe that throws again, so a probe may assert', async () => {
    let calls = 0;
    const got = await waitFor('the third call', () => {
      calls++;
      assert.ok(calls >= 3, `only ${calls} calls`);
      return calls;
    }, { intervalMs: 1 });
    assert.equal(got, 3);
  });

  it('fails after the deadline naming what it waited for, the deadline and the last value', async () => {
    let n = 0;
    await assert.rejects(waitFor('the answer', () => ({ answer: 41, calls: ++n }).answer === 42, { timeoutMs: 30, intervalMs: 1 }),
      { message: 'timed out after 30 ms waiting for the answer; last value: false' });
    assert.ok(n >= 2, 'probed more than once');
    const notYet = new Error('connect ECONNREFUSED');
    await assert.rejects(waitFor('the port', () => { throw notYet; }, { timeoutMs: 30, intervalMs: 1 }), (err: Error) => {
      assert.equal(err.message, 'timed out after 30 ms waiting for the port; last error: connect ECONNREFUSED');
      assert.equal(err.cause, notYet);
      return true;
    });
  });

  it('stops at once when its signal aborts, with the signal\'s reason', async () => {
    const ac = new AbortController();
    const exited = new Error('the process exited');
    let calls = 0;
    const waiting = waitFor('a process that will exit', () => {
      if (++calls === 3) ac.abort(exited);
      return false;
    }, { intervalMs: 1, signal: ac.signal });
    await assert.rejects(waiting, exited);
    assert.equal(calls, 3);
  });
});

/** Runs `body` as a test file of its own with Node's test runner, CI=true or not; its exit code and TAP output. */
function runTestFile(body: string, ci: boolean): { code: number | null; out: string } {
  const dir = mkdtempSync(join(tmpdir(), 'palisade-testing-'));
  try {
    const file = join(dir, 'guard.test.mjs');
    const helpers = pathToFileURL(join(import.meta.dirname, 'testing.js')).href;
    writeFileSync(file, `import { test } from 'node:test';\nimport { need, skipUnless } from '${helpers}';\n${body}\n`);
    // NODE_TEST_CONTEXT would make the child report to this runner instead of printing TAP.
    const { NODE_TEST_CONTEXT: _ctx, CI: _ci, ...env } = process.env;
    const r = spawnSync(process.execPath, ['--test', '--test-reporter=tap', file], {
      encoding: 'utf8', env: { ...env, ...(ci ? { CI: 'true' } : {}) },
    });
    return { code: r.status, out: `${r.stdout}${r.stderr}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('the CI guard', () => {
  const inTest = `test('needs a thing', (t) => {
  if (!need(t, false, 'the thing is missing')) return;
  throw new Error('went on without the thing');
});
test('has what it needs', (t) => { if (!need(t, true, 'unused')) throw new Error('refused a met requirement'); });`;
  const atLoad = `test('needs a thing', { skip: skipUnless(false, 'the thing is missing') }, () => {
  throw new Error('went on without the thing');
});
test('has what it needs', { skip: skipUnless(true, 'unused') }, () => {});`;

  it('need(): skips saying why locally, fails the test when CI=true', () => {
    const local = runTestFile(inTest, false);
    assert.equal(local.code, 0, local.out);
    assert.match(local.out, /^ok 1 - needs a thing # SKIP the thing is missing$/m);
    assert.match(local.out, /^ok 2 - has what it needs$/m);
    const ci = runTestFile(inTest, true);
    assert.equal(ci.code, 1, ci.out);
    assert.match(ci.out, /^not ok 1 - needs a thing$/m);
    assert.match(ci.out, /required when CI=true: the thing is missing/);
    assert.match(ci.out, /^ok 2 - has what it needs$/m);
  });

  it('skipUnless(): the skip option with the reason locally; the file fails when CI=true', () => {
    const local = runTestFile(atLoad, false);
    assert.equal(local.code, 0, local.out);
    assert.match(local.out, /^ok 1 - needs a thing # SKIP the thing is missing$/m);
    assert.match(local.out, /^ok 2 - has what it needs$/m);
    const ci = runTestFile(atLoad, true);
    assert.equal(ci.code, 1, ci.out);
    assert.match(ci.out, /required when CI=true: the thing is missing/);
    assert.doesNotMatch(ci.out, /# SKIP/);
  });
});

// The two rules stay in testing.ts only: a second waitFor, a hand-rolled deadline loop or a CI read elsewhere is how
// the copies came about, each with its own deadline and wording.
describe('one copy of the test helpers', () => {
  const root = join(import.meta.dirname, '../../..');
  const sources = (dir: string): string[] => readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    if (e.name === 'node_modules' || e.name === 'dist') return [];
    const p = join(dir, e.name);
    return e.isDirectory() ? sources(p) : e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [p] : [];
  });
  const files = [
    ...readdirSync(join(root, 'services'), { withFileTypes: true }).filter((e) => e.isDirectory())
      .flatMap((e) => sources(join(root, 'services', e.name, 'src'))),
    ...sources(join(root, 'test')),
  ].map((f) => relative(root, f).split(sep).join('/')).sort();
  const helper = 'services/common/src/testing.ts';
  // Tests and their support code; the bench measures time, it does not wait for conditions.
  const isTestCode = (f: string): boolean =>
    f.endsWith('.test.ts') || f.endsWith('-test-support.ts') || /^test\/(support|kafka|e2e|faults|soak)\//.test(f);
  const rules: { what: string; pattern: RegExp; applies: (f: string) => boolean }[] = [
    {
      what: 'defines a waitFor: use the one in @palisade/common/testing',
      pattern: /\bfunction\s+waitFor\b|\bwaitFor\s*=[^=>]|^\s*(?:async\s+)?waitFor\s*(?:<[^>]*>)?\([^\n]*\)\s*(?::[^\n]*)?\{\s*$/m,
      applies: (f) => f !== helper,
    },
    {
      what: 'polls against its own deadline: use waitFor from @palisade/common/testing',
      pattern: /Date\.now\(\)\s*\+/,
      applies: (f) => f !== helper && isTestCode(f),
    },
    {
      what: 'reads CI: use need()/skipUnless()/onCI from @palisade/common/testing',
      pattern: /\benv\s*(?:\.\s*CI\b|\[\s*['"`]CI['"`]\s*\])|\{[^}]*\bCI\b[^}]*\}\s*=\s*process\.env\b/,
      // This file starts children with CI set and unset.
      applies: (f) => f !== helper && f !== 'services/common/src/testing.test.ts',
    },
  ];

  it('scans every service and the test workspace, and the patterns find the real helpers', () => {
    assert.ok(files.includes(helper) && files.includes('services/collector/src/kernel-source.test.ts') &&
      files.includes('test/e2e/pipeline-kafka.test.ts'), `scanned ${files.length} files`);
    const own = readFileSync(join(root, helper), 'utf8');
    for (const rule of rules) assert.match(own, rule.pattern, `the pattern for "${rule.what}" misses the helper itself`);
  });

  for (const rule of rules) {
    it(`no file but testing.ts ${rule.what.split(':')[0]}`, () => {
      const found: string[] = [];
      for (const f of files.filter(rule.applies)) {
        const lines = readFileSync(join(root, f), 'utf8').split('\n');
        lines.forEach((line, i) => {
          // Multi-line patterns are matched a line at a time: a definition or a read sits on one line.
          if (rule.pattern.test(line)) found.push(`${f}:${i + 1}: ${line.trim()}`);
        });
      }
      assert.deepEqual(found, [], `${found.length} file line(s) ${rule.what}:\n${found.join('\n')}`);
    });
  }
});
