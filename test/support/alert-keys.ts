// An alert signing key pair in files, as an operator would mount them: the evaluator signs with the private key, the
// responder trusts the public one. Every test or bench that runs the two as processes needs one (a responder without
// --alert-verify-keys refuses to start).
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface AlertKeyFiles {
  privateKeyFile: string;
  publicKeyFile: string;
  /** Flags for the evaluator and the responder. */
  evaluatorArgs: string[];
  responderArgs: string[];
}

export function writeAlertKeys(dir: string, name = 'alert-signing'): AlertKeyFiles {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const privateKeyFile = join(dir, `${name}.key`);
  const publicKeyFile = join(dir, `${name}.pub`);
  writeFileSync(privateKeyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  writeFileSync(publicKeyFile, publicKey.export({ type: 'spki', format: 'pem' }));
  return {
    privateKeyFile, publicKeyFile,
    evaluatorArgs: ['--alert-signing-key-file', privateKeyFile],
    responderArgs: ['--alert-verify-keys', publicKeyFile],
  };
}
