import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { README, withConfigSection } from './config-doc.js';

test('the README documents every configuration key as the schemas define it', () => {
  const readme = readFileSync(README, 'utf8');
  assert.equal(readme, withConfigSection(readme),
    'README.md configuration section is stale: run `node test/dist/docs/config-doc.js --write`');
});
