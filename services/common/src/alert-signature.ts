// Alerts carry an Ed25519 signature of their record value, so the responder acts only on what the evaluator decided.
//
// Why a signature on top of the ACLs (only the evaluator's principal may write palisade.alerts): a Kafka consumer
// cannot see which principal produced a record, so the responder could only trust the ACLs blindly. One wrong ACL
// (a wildcard grant, a reused principal, a topic recreated without them) or one leaked producer credential would let
// anyone drive quarantines. A signature is checked by the consumer itself. Ed25519 rather than an HMAC: the responder
// holds only public keys, so neither it nor anyone who reads its Secret can mint alerts; and the key id in a header
// lets several public keys be trusted during a rotation.
//
// What is signed: a fixed context string, then the record's value (the encoded Alert, which holds the node, the pod
// and the time). The record key and the topic are not: moving a record to another partition changes nothing it says.
// Headers: palisade-signature-key = the key id (first 16 hex digits of the SHA-256 of the public key, SPKI DER),
// palisade-signature = the signature, base64.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { PalisadeError } from './errors.js';

export const SIGNATURE_HEADER = 'palisade-signature';
export const SIGNATURE_KEY_HEADER = 'palisade-signature-key';
const CONTEXT = Buffer.from('palisade.v1.Alert ed25519 v1\n');

/** Why an alert is not trusted; the metric label values, a fixed set. */
export type UntrustedReason = 'unsigned' | 'unknown_key' | 'bad_signature';

export type Verdict = { ok: true; keyId: string } | { ok: false; reason: UntrustedReason; detail: string };

export function alertKeyId(publicKey: KeyObject): string {
  return createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 16);
}

function signedBytes(value: Uint8Array): Buffer {
  return Buffer.concat([CONTEXT, value]);
}

export class AlertSigner {
  readonly keyId: string;
  readonly publicKey: KeyObject;

  constructor(private readonly privateKey: KeyObject) {
    if (privateKey.type !== 'private' || privateKey.asymmetricKeyType !== 'ed25519') {
      throw new PalisadeError('CONFIG_INVALID', `the alert signing key must be an Ed25519 private key, not ${privateKey.asymmetricKeyType ?? privateKey.type}`);
    }
    this.publicKey = createPublicKey(privateKey);
    this.keyId = alertKeyId(this.publicKey);
  }

  /** The headers that sign this record value. */
  sign(value: Uint8Array): Record<string, string> {
    return {
      [SIGNATURE_KEY_HEADER]: this.keyId,
      [SIGNATURE_HEADER]: sign(null, signedBytes(value), this.privateKey).toString('base64'),
    };
  }

  /** A PEM private key file (PKCS#8, e.g. from `openssl genpkey -algorithm ed25519`). Throws CONFIG_INVALID. */
  static fromFile(path: string): AlertSigner {
    let key: KeyObject;
    try {
      key = createPrivateKey(readFileSync(path));
    } catch (err) {
      throw new PalisadeError('CONFIG_INVALID', `alert signing key ${JSON.stringify(path)}: ${(err as Error).message}`, { cause: err });
    }
    return new AlertSigner(key);
  }
}

export class AlertVerifier {
  private readonly keys = new Map<string, KeyObject>();

  constructor(publicKeys: readonly KeyObject[]) {
    for (const k of publicKeys) {
      if (k.asymmetricKeyType !== 'ed25519') {
        throw new PalisadeError('CONFIG_INVALID', `an alert verification key must be an Ed25519 public key, not ${k.asymmetricKeyType ?? k.type}`);
      }
      const pub = k.type === 'private' ? createPublicKey(k) : k;
      this.keys.set(alertKeyId(pub), pub);
    }
  }

  get keyIds(): string[] { return [...this.keys.keys()]; }

  verify(value: Uint8Array, headers: Readonly<Record<string, string>>): Verdict {
    const sig = headers[SIGNATURE_HEADER];
    const keyId = headers[SIGNATURE_KEY_HEADER];
    if (sig === undefined || sig === '' || keyId === undefined || keyId === '') {
      return { ok: false, reason: 'unsigned', detail: `no ${SIGNATURE_HEADER} and ${SIGNATURE_KEY_HEADER} headers` };
    }
    const key = this.keys.get(keyId);
    if (key === undefined) {
      return { ok: false, reason: 'unknown_key', detail: `signed with key ${JSON.stringify(keyId.slice(0, 64))}, which is not trusted` };
    }
    const bytes = Buffer.from(sig, 'base64');
    // A signature of the wrong length makes verify() throw on some versions: that is a bad signature too.
    let good = false;
    try {
      good = bytes.length === 64 && verify(null, signedBytes(value), key, bytes);
    } catch {
      good = false;
    }
    return good ? { ok: true, keyId } : { ok: false, reason: 'bad_signature', detail: `signature by key ${keyId} does not match the record` };
  }

  /** PEM public key files (SPKI, e.g. `openssl pkey -pubout`). Throws CONFIG_INVALID naming the file. */
  static fromFiles(paths: readonly string[]): AlertVerifier {
    const keys = paths.map((path) => {
      try {
        return createPublicKey(readFileSync(path));
      } catch (err) {
        throw new PalisadeError('CONFIG_INVALID', `alert verification key ${JSON.stringify(path)}: ${(err as Error).message}`, { cause: err });
      }
    });
    return new AlertVerifier(keys);
  }
}

/** A key pair that lives as long as this process: embedded mode signs and verifies the same way, with no files. */
export function ephemeralAlertKeys(): { signer: AlertSigner; verifier: AlertVerifier } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { signer: new AlertSigner(privateKey), verifier: new AlertVerifier([publicKey]) };
}
