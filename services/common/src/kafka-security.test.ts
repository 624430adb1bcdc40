import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { loadConfig } from './config-schema.js';
import { commonKeys } from './common-config.js';
import { resolveKafkaSecurity, type KafkaSecurity } from './kafka-security.js';

const dir = mkdtempSync(join(tmpdir(), 'palisade-kafka-security-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const CERT = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const KEY = '-----BEGIN PRIVATE KEY-----\nMC4C\n-----END PRIVATE KEY-----\n';
function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}
const ca = file('ca.pem', CERT);
const cert = file('client.pem', CERT);
const key = file('client.key', KEY);
const password = file('password', 's3cret\n');

/** The keys as a service resolves them: flags and env through the shared schema, then the security check. */
function resolve(argv: string[], env: Record<string, string> = {}): KafkaSecurity {
  return resolveKafkaSecurity(loadConfig(commonKeys, { argv, env }));
}

function problems(argv: string[], env: Record<string, string> = {}): string {
  try {
    resolve(argv, env);
  } catch (err) {
    assert.equal((err as { code?: string }).code, 'CONFIG_INVALID');
    return (err as Error).message;
  }
  assert.fail(`accepted: ${argv.join(' ')}`);
}

describe('Kafka security configuration', () => {
  test('the default is PLAINTEXT: no TLS, no SASL', () => {
    const s = resolve([]);
    assert.equal(s.ssl, undefined);
    assert.equal(s.sasl, undefined);
    assert.equal(s.summary.protocol, 'PLAINTEXT');
  });

  test('SASL_SSL with SCRAM-SHA-512 reads the CA and the password from files', () => {
    const s = resolve(['--kafka-security-protocol', 'SASL_SSL', '--kafka-ca-file', ca, '--kafka-username', 'evaluator',
      '--kafka-password-file', password]);
    assert.deepEqual(s.sasl, { mechanism: 'scram-sha-512', username: 'evaluator', password: 's3cret' });
    assert.ok(typeof s.ssl === 'object');
    assert.deepEqual(s.ssl.ca, [CERT]);
    assert.equal(s.ssl.rejectUnauthorized, true);
    assert.equal(JSON.stringify(s.summary).includes('s3cret'), false, 'the summary (logged) holds the password');
  });

  test('the password may come from the environment instead of a file', () => {
    const s = resolve([], { PALISADE_KAFKA_SECURITY_PROTOCOL: 'SASL_SSL', PALISADE_KAFKA_USERNAME: 'responder',
      PALISADE_KAFKA_PASSWORD: 'from-env', PALISADE_KAFKA_SASL_MECHANISM: 'scram-sha-256' });
    assert.deepEqual(s.sasl, { mechanism: 'scram-sha-256', username: 'responder', password: 'from-env' });
    assert.ok(s.ssl !== undefined, 'SASL_SSL without a CA file still uses TLS (the system CAs)');
  });

  test('mutual TLS with a client certificate and key; a server name for SNI', () => {
    const s = resolve(['--kafka-security-protocol', 'SSL', '--kafka-ca-file', ca, '--kafka-cert-file', cert,
      '--kafka-key-file', key, '--kafka-tls-server-name', 'kafka.palisade.svc']);
    assert.ok(typeof s.ssl === 'object');
    assert.equal(s.ssl.cert, CERT);
    assert.equal(s.ssl.key, KEY);
    assert.equal(s.ssl.servername, 'kafka.palisade.svc');
    assert.equal(s.sasl, undefined);
    assert.equal(s.summary.mtls, true);
  });

  test('SASL settings with a protocol that does no SASL are refused, not ignored', () => {
    assert.match(problems(['--kafka-username', 'collector', '--kafka-password-file', password]),
      /--kafka-username, --kafka-password-file given, but --kafka-security-protocol PLAINTEXT does no SASL/);
    assert.match(problems(['--kafka-security-protocol', 'SSL', '--kafka-username', 'x']), /SSL does no SASL/);
  });

  test('TLS files with a protocol without TLS are refused', () => {
    assert.match(problems(['--kafka-security-protocol', 'SASL_PLAINTEXT', '--kafka-ca-file', ca, '--kafka-username', 'x',
      '--kafka-password', 'y']), /--kafka-ca-file given, but --kafka-security-protocol SASL_PLAINTEXT uses no TLS/);
  });

  test('a SASL protocol needs a user and a password, given once', () => {
    const msg = problems(['--kafka-security-protocol', 'SASL_SSL']);
    assert.match(msg, /needs --kafka-username/);
    assert.match(msg, /needs a password/);
    assert.match(problems(['--kafka-security-protocol', 'SASL_SSL', '--kafka-username', 'u', '--kafka-password-file', password],
      { PALISADE_KAFKA_PASSWORD: 'also' }), /give the SASL password once/);
  });

  test('PLAIN without TLS is refused: the password would cross the network in clear text', () => {
    assert.match(problems(['--kafka-security-protocol', 'SASL_PLAINTEXT', '--kafka-sasl-mechanism', 'plain',
      '--kafka-username', 'u', '--kafka-password', 'p']), /plain over SASL_PLAINTEXT would send the password in clear text/);
    const ok = resolve(['--kafka-security-protocol', 'SASL_SSL', '--kafka-sasl-mechanism', 'plain', '--kafka-username', 'u',
      '--kafka-password', 'p']);
    assert.equal(ok.sasl?.mechanism, 'plain');
  });

  test('a certificate without its key, missing and empty files, and non-PEM files are all reported at once', () => {
    const empty = file('empty-password', '\n');
    const notPem = file('not-pem', 'hello');
    const msg = problems(['--kafka-security-protocol', 'SASL_SSL', '--kafka-ca-file', notPem, '--kafka-cert-file', cert,
      '--kafka-username', 'u', '--kafka-password-file', empty]);
    assert.match(msg, /--kafka-ca-file ".*not-pem" holds no PEM certificate/);
    assert.match(msg, /mutual TLS needs both --kafka-cert-file and --kafka-key-file/);
    assert.match(msg, /--kafka-password-file ".*empty-password" is empty/);
    assert.match(problems(['--kafka-security-protocol', 'SSL', '--kafka-ca-file', join(dir, 'nope.pem')]),
      /--kafka-ca-file ".*nope.pem" cannot be read: ENOENT/);
  });

  test('an unknown protocol or mechanism is a config error naming the allowed values', () => {
    assert.throws(() => loadConfig(commonKeys, { argv: ['--kafka-security-protocol', 'TLS'], env: {} }),
      /must be one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL/);
    assert.throws(() => loadConfig(commonKeys, { argv: ['--kafka-sasl-mechanism', 'gssapi'], env: {} }),
      /must be one of scram-sha-512, scram-sha-256, plain/);
  });
});
