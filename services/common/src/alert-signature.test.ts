import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { AlertSigner, AlertVerifier, SIGNATURE_HEADER, SIGNATURE_KEY_HEADER, ephemeralAlertKeys } from './alert-signature.js';
import { pb } from './proto.js';

const dir = mkdtempSync(join(tmpdir(), 'palisade-alert-sig-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const alert = (node: string): Uint8Array => pb.Alert.encode({
  id: `PAL-001:${node}:1:2`, ruleId: 'PAL-001', actions: ['quarantine'],
  event: { node, status: pb.EnrichmentStatus.ENRICHMENT_STATUS_ENRICHED, pod: { namespace: 'shop', name: 'web', uid: 'u1', node } },
}).finish();

test('a signed alert verifies under the signer\'s public key, naming the key id', () => {
  const { signer, verifier } = ephemeralAlertKeys();
  const value = alert('node-1');
  const headers = signer.sign(value);
  assert.match(headers[SIGNATURE_KEY_HEADER] ?? '', /^[0-9a-f]{16}$/);
  assert.equal(Buffer.from(headers[SIGNATURE_HEADER] ?? '', 'base64').length, 64);
  assert.deepEqual(verifier.verify(value, headers), { ok: true, keyId: signer.keyId });
});

test('unsigned, forged, tampered and replayed-to-another-node alerts do not verify', () => {
  const { signer, verifier } = ephemeralAlertKeys();
  const value = alert('node-1');
  const headers = signer.sign(value);
  assert.equal(verifier.verify(value, {}).ok, false);
  assert.deepEqual({ ...verifier.verify(value, {}), detail: '' }, { ok: false, reason: 'unsigned', detail: '' });
  // Forged: a valid signature, by a key nobody trusts.
  const forger = ephemeralAlertKeys().signer;
  assert.deepEqual(verifier.verify(value, forger.sign(value)), { ok: false, reason: 'unknown_key',
    detail: `signed with key "${forger.keyId}", which is not trusted` });
  // Forged harder: a forger's signature under the trusted key's id.
  const spoofed = { ...forger.sign(value), [SIGNATURE_KEY_HEADER]: signer.keyId };
  assert.equal((verifier.verify(value, spoofed) as { reason?: string }).reason, 'bad_signature');
  // The genuine signature on the same alert as if another node had reported it.
  assert.equal((verifier.verify(alert('node-2'), headers) as { reason?: string }).reason, 'bad_signature');
  // One flipped byte anywhere.
  const flipped = Buffer.from(value);
  flipped.writeUInt8((flipped.at(-1) ?? 0) ^ 1, flipped.length - 1);
  assert.equal((verifier.verify(flipped, headers) as { reason?: string }).reason, 'bad_signature');
  // Garbage in the header.
  assert.equal((verifier.verify(value, { ...headers, [SIGNATURE_HEADER]: '!!not base64' }) as { reason?: string }).reason, 'bad_signature');
});

test('keys load from PEM files (openssl genpkey -algorithm ed25519); other key types are a config error', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const priv = join(dir, 'alert-signing.pem');
  const pub = join(dir, 'alert-verify.pem');
  writeFileSync(priv, privateKey.export({ type: 'pkcs8', format: 'pem' }));
  writeFileSync(pub, publicKey.export({ type: 'spki', format: 'pem' }));
  const signer = AlertSigner.fromFile(priv);
  const verifier = AlertVerifier.fromFiles([pub]);
  assert.deepEqual(verifier.keyIds, [signer.keyId]);
  const value = alert('node-1');
  assert.equal(verifier.verify(value, signer.sign(value)).ok, true);

  const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
  const rsaPriv = join(dir, 'rsa.pem');
  writeFileSync(rsaPriv, rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }));
  assert.throws(() => AlertSigner.fromFile(rsaPriv), (e: unknown) => (e as { code?: string }).code === 'CONFIG_INVALID' &&
    /must be an Ed25519 private key, not rsa/.test((e as Error).message));
  assert.throws(() => AlertSigner.fromFile(join(dir, 'missing.pem')), (e: unknown) => (e as { code?: string }).code === 'CONFIG_INVALID' &&
    /missing\.pem/.test((e as Error).message));
  assert.throws(() => AlertVerifier.fromFiles([pub, join(dir, 'nope.pem')]), /alert verification key ".*nope\.pem"/);
  // A public key given to the signer, or a private key file given as a verification key.
  assert.throws(() => AlertSigner.fromFile(pub), (e: unknown) => (e as { code?: string }).code === 'CONFIG_INVALID');
});
