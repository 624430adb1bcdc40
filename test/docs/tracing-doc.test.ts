import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { skipUnless } from '@palisade/common/testing';
import { METADATA, TRACING_POLICY, rulesBlock, withRulesBlock } from './tracing-doc.js';

const skip = skipUnless(existsSync(METADATA), 'build/policies is not built (node scripts/setup.mjs)');

test('the default TracingPolicy\'s header lists every rule and the kinds it reads (regenerate: node test/dist/docs/tracing-doc.js --write)',
  { skip }, () => {
    const text = readFileSync(TRACING_POLICY, 'utf8');
    const meta = readFileSync(METADATA, 'utf8');
    assert.equal(text, withRulesBlock(text, meta),
      'policies/tracing/default.yaml rule list is stale: run `node test/dist/docs/tracing-doc.js --write`');
  });

test('the generated list has one line per rule, with its kinds and title', () => {
  const block = rulesBlock(JSON.stringify({ rules: [
    { id: 'PAL-002', title: 'Reverse shell', event_kinds: ['exec', 'fd_dup'] },
    { id: 'PAL-001', title: 'Credential file', event_kinds: ['file_open'] },
  ] }));
  assert.deepEqual(block.split('\n').slice(1, -1), [
    '#   PAL-001  file_open    Credential file',
    '#   PAL-002  exec,fd_dup  Reverse shell',
  ]);
});
