// A throwaway certificate authority for a test broker: a CA and one server certificate for 127.0.0.1/localhost,
// made with openssl(1) into a directory that goes away with the broker. No keytool: the broker trusts the CA as PEM
// (ssl.truststore.type=PEM) and reads its key from a PKCS#12 file openssl writes. (A PEM keystore file needs an
// encrypted key, and Kafka 3.9 cannot read openssl 3's default PBES2 encryption of one.)
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TestCa {
  /** PEM of the CA certificate: what clients trust. */
  caFile: string;
  caPem: string;
  /** Broker keystore (PKCS#12: its key and certificate chain), as ssl.keystore.location. */
  keystoreFile: string;
  keystorePassword: string;
  /** The server certificate (127.0.0.1, localhost) and its key as PEM files, for servers that read PEM. */
  serverCertFile: string;
  serverKeyFile: string;
  /**
   * Issues a client certificate (for mutual TLS) whose subject CN is cn (and O is org: Kubernetes reads O as the
   * user's groups); returns the PEM files.
   */
  issueClient(cn: string, org?: string): { certFile: string; keyFile: string };
}

function openssl(args: string[], cwd: string): void {
  const r = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (r.error !== undefined || r.status !== 0) {
    throw new Error(`openssl ${args.slice(0, 2).join(' ')} failed: ${r.error?.message ?? ''}${r.stderr}`);
  }
}

/** Why a test CA cannot be made here, or undefined. */
export function testCaUnavailableReason(): string | undefined {
  const r = spawnSync('openssl', ['version'], { stdio: 'ignore' });
  return r.error !== undefined || r.status !== 0 ? 'openssl is not on PATH' : undefined;
}

export function createTestCa(dir: string): TestCa {
  const keystorePassword = randomBytes(12).toString('hex');
  // One day is plenty for a test; RSA because every JDK's PEM reader takes it.
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1',
    '-subj', '/CN=palisade-test-ca'], dir);
  const issue = (name: string, cn: string, ext: string, org?: string): void => {
    writeFileSync(join(dir, `${name}.ext`), ext);
    const subj = `/CN=${cn}${org !== undefined ? `/O=${org}` : ''}`;
    openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subj], dir);
    openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`,
      '-days', '1', '-extfile', `${name}.ext`], dir);
  };
  issue('broker', 'localhost', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n');
  const keystoreFile = join(dir, 'broker.p12');
  openssl(['pkcs12', '-export', '-inkey', 'broker.key', '-in', 'broker.pem', '-certfile', 'ca.pem', '-name', 'broker',
    '-out', keystoreFile, '-passout', `pass:${keystorePassword}`], dir);
  const caFile = join(dir, 'ca.pem');
  return {
    caFile, caPem: readFileSync(caFile, 'utf8'), keystoreFile, keystorePassword,
    serverCertFile: join(dir, 'broker.pem'), serverKeyFile: join(dir, 'broker.key'),
    issueClient: (cn, org) => {
      const name = `client-${cn.replace(/[^a-z0-9-]/gi, '_')}`;
      issue(name, cn, 'extendedKeyUsage=clientAuth\n', org);
      return { certFile: join(dir, `${name}.pem`), keyFile: join(dir, `${name}.key`) };
    },
  };
}
