// The README's ACL table is the plan the CLI applies (services/common/src/kafka-acls.ts), not a copy kept by hand.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { aclTable } from '@palisade/common';
import { README } from './config-doc.js';

test('the README\'s per-principal ACL table is the one palisade kafka-acls applies', () => {
  const readme = readFileSync(README, 'utf8');
  const m = /<!-- acls:start[^>]*-->\n([\s\S]*?)\n<!-- acls:end -->/.exec(readme);
  assert.ok(m, 'README.md has no acls:start/acls:end section');
  assert.equal(m[1], aclTable(), 'README.md ACL table is stale: paste aclTable() from @palisade/common');
});
