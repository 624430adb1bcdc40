import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../support/service-process.js';
import { sections, withSections } from './abi-doc.js';

test('the READMEs restate the ABI registry exactly (regenerate: node test/dist/docs/abi-doc.js --write)', () => {
  for (const file of Object.keys(sections())) {
    const text = readFileSync(join(REPO_ROOT, file), 'utf8');
    assert.equal(text, withSections(file, text), `${file} is stale: run node test/dist/docs/abi-doc.js --write`);
  }
});
