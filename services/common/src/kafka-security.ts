// How every stage authenticates to Kafka and protects the connection: TLS (optionally with a client certificate, mTLS)
// and SASL (SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN). The keys are shared by every service (common-config.ts); they
// are resolved here once, at start, into kafkajs' `ssl` and `sasl` options. Every file is read now, so a missing
// Secret mount or a bad combination stops the service with all of its problems listed, instead of a connection
// that fails (or, worse, silently goes out in clear text) later.
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { oneOf, str } from './config-schema.js';
import { PalisadeError } from './errors.js';

export const KAFKA_SECURITY_PROTOCOLS = ['PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL'] as const;
export type KafkaSecurityProtocol = (typeof KAFKA_SECURITY_PROTOCOLS)[number];
export const KAFKA_SASL_MECHANISMS = ['scram-sha-512', 'scram-sha-256', 'plain'] as const;
export type KafkaSaslMechanism = (typeof KAFKA_SASL_MECHANISMS)[number];

export const kafkaSecurityKeys = {
  kafkaSecurityProtocol: oneOf('How the stage talks to Kafka, as Kafka\'s security.protocol names it',
    'PALISADE_KAFKA_SECURITY_PROTOCOL', 'PLAINTEXT' as KafkaSecurityProtocol, KAFKA_SECURITY_PROTOCOLS),
  kafkaCaFile: str('PEM file of the CA certificate(s) that signed the brokers\' certificates (SSL, SASL_SSL); ' +
    'empty: the system\'s CAs', 'PALISADE_KAFKA_CA_FILE', ''),
  kafkaCertFile: str('PEM client certificate for mutual TLS (with --kafka-key-file)', 'PALISADE_KAFKA_CERT_FILE', ''),
  kafkaKeyFile: str('PEM private key of --kafka-cert-file', 'PALISADE_KAFKA_KEY_FILE', ''),
  kafkaTlsServerName: str('Name the brokers\' certificates must carry, when it is not the bootstrap host (TLS SNI and ' +
    'verification)', 'PALISADE_KAFKA_TLS_SERVER_NAME', ''),
  kafkaSaslMechanism: oneOf('SASL mechanism (SASL_PLAINTEXT, SASL_SSL); plain only over SASL_SSL',
    'PALISADE_KAFKA_SASL_MECHANISM', 'scram-sha-512' as KafkaSaslMechanism, KAFKA_SASL_MECHANISMS),
  kafkaUsername: str('SASL user name: this stage\'s principal (User:<name> in ACLs)', 'PALISADE_KAFKA_USERNAME', ''),
  kafkaPasswordFile: str('File holding the SASL password (e.g. a mounted Secret; one trailing newline is ignored)',
    'PALISADE_KAFKA_PASSWORD_FILE', ''),
  kafkaPassword: str('SASL password itself, when there is no file; prefer the file or the env variable (a flag shows ' +
    'in ps)', 'PALISADE_KAFKA_PASSWORD', ''),
};

export interface KafkaSecurityKeyValues {
  kafkaSecurityProtocol: KafkaSecurityProtocol;
  kafkaCaFile: string;
  kafkaCertFile: string;
  kafkaKeyFile: string;
  kafkaTlsServerName: string;
  kafkaSaslMechanism: KafkaSaslMechanism;
  kafkaUsername: string;
  kafkaPasswordFile: string;
  kafkaPassword: string;
}

export type KafkaSasl =
  | { mechanism: 'scram-sha-512'; username: string; password: string }
  | { mechanism: 'scram-sha-256'; username: string; password: string }
  | { mechanism: 'plain'; username: string; password: string };

/** kafkajs' ssl and sasl options; absent fields mean plain TCP / no SASL. */
export interface KafkaSecurity {
  ssl?: ConnectionOptions | true;
  sasl?: KafkaSasl;
  /** For logs: what was configured, without secrets. */
  summary: { protocol: KafkaSecurityProtocol; mechanism?: KafkaSaslMechanism; username?: string; mtls: boolean; ca: string };
}

/** Reads a file the configuration names; a problem is recorded rather than thrown, so all are reported at once. */
function readConfigured(flag: string, path: string, problems: string[], check?: (text: string) => string | undefined): string | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    problems.push(`${flag} ${JSON.stringify(path)} cannot be read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    return undefined;
  }
  const bad = check?.(text);
  if (bad !== undefined) { problems.push(`${flag} ${JSON.stringify(path)} ${bad}`); return undefined; }
  return text;
}

const pemOf = (label: RegExp, what: string) => (text: string): string | undefined =>
  label.test(text) ? undefined : `holds no PEM ${what}`;

/**
 * Resolves and checks the security keys (files are read now). Throws CONFIG_INVALID listing every problem:
 * SASL or TLS settings given for a protocol that would not use them, a SASL protocol without a user or password,
 * PLAIN without TLS (the password would cross the network in clear), a certificate without its key, unreadable files.
 */
export function resolveKafkaSecurity(cfg: KafkaSecurityKeyValues): KafkaSecurity {
  const problems: string[] = [];
  const protocol = cfg.kafkaSecurityProtocol;
  const tls = protocol === 'SSL' || protocol === 'SASL_SSL';
  const sasl = protocol === 'SASL_PLAINTEXT' || protocol === 'SASL_SSL';
  const tlsFlags = ([['--kafka-ca-file', cfg.kafkaCaFile], ['--kafka-cert-file', cfg.kafkaCertFile],
    ['--kafka-key-file', cfg.kafkaKeyFile], ['--kafka-tls-server-name', cfg.kafkaTlsServerName]] as const).filter(([, v]) => v !== '');
  const saslFlags = ([['--kafka-username', cfg.kafkaUsername], ['--kafka-password-file', cfg.kafkaPasswordFile],
    ['--kafka-password', cfg.kafkaPassword]] as const).filter(([, v]) => v !== '');
  if (!tls && tlsFlags.length > 0) {
    problems.push(`${tlsFlags.map(([f]) => f).join(', ')} given, but --kafka-security-protocol ${protocol} uses no TLS ` +
      '(use SSL or SASL_SSL)');
  }
  if (!sasl && saslFlags.length > 0) {
    problems.push(`${saslFlags.map(([f]) => f).join(', ')} given, but --kafka-security-protocol ${protocol} does no SASL ` +
      'authentication (use SASL_SSL)');
  }
  const out: KafkaSecurity = { summary: { protocol, mtls: false, ca: tls ? 'system' : 'none' } };
  if (tls) {
    const opts: ConnectionOptions = { rejectUnauthorized: true };
    if (cfg.kafkaCaFile !== '') {
      const ca = readConfigured('--kafka-ca-file', cfg.kafkaCaFile, problems, pemOf(/-----BEGIN CERTIFICATE-----/, 'certificate'));
      if (ca !== undefined) opts.ca = [ca];
      out.summary.ca = cfg.kafkaCaFile;
    }
    if ((cfg.kafkaCertFile === '') !== (cfg.kafkaKeyFile === '')) {
      problems.push('mutual TLS needs both --kafka-cert-file and --kafka-key-file');
    } else if (cfg.kafkaCertFile !== '') {
      const cert = readConfigured('--kafka-cert-file', cfg.kafkaCertFile, problems, pemOf(/-----BEGIN CERTIFICATE-----/, 'certificate'));
      const key = readConfigured('--kafka-key-file', cfg.kafkaKeyFile, problems, pemOf(/-----BEGIN [A-Z ]*PRIVATE KEY-----/, 'private key'));
      if (cert !== undefined) opts.cert = cert;
      if (key !== undefined) opts.key = key;
      out.summary.mtls = true;
    }
    if (cfg.kafkaTlsServerName !== '') opts.servername = cfg.kafkaTlsServerName;
    out.ssl = opts;
  }
  if (sasl) {
    const mechanism = cfg.kafkaSaslMechanism;
    if (mechanism === 'plain' && !tls) {
      problems.push('--kafka-sasl-mechanism plain over SASL_PLAINTEXT would send the password in clear text; use SASL_SSL ' +
        'or a SCRAM mechanism');
    }
    if (cfg.kafkaUsername === '') problems.push(`--kafka-security-protocol ${protocol} needs --kafka-username`);
    let password: string | undefined;
    if (cfg.kafkaPasswordFile !== '' && cfg.kafkaPassword !== '') {
      problems.push('give the SASL password once: --kafka-password-file or PALISADE_KAFKA_PASSWORD, not both');
    } else if (cfg.kafkaPasswordFile !== '') {
      const text = readConfigured('--kafka-password-file', cfg.kafkaPasswordFile, problems,
        (t) => (t.replace(/\r?\n$/, '') === '' ? 'is empty' : undefined));
      if (text !== undefined) password = text.replace(/\r?\n$/, '');
    } else if (cfg.kafkaPassword !== '') {
      password = cfg.kafkaPassword;
    } else {
      problems.push(`--kafka-security-protocol ${protocol} needs a password: --kafka-password-file (or PALISADE_KAFKA_PASSWORD)`);
    }
    if (password !== undefined && cfg.kafkaUsername !== '') {
      const creds = { username: cfg.kafkaUsername, password };
      out.sasl = mechanism === 'plain' ? { mechanism, ...creds }
        : mechanism === 'scram-sha-256' ? { mechanism, ...creds } : { mechanism, ...creds };
    }
    out.summary.mechanism = mechanism;
    out.summary.username = cfg.kafkaUsername;
  }
  if (problems.length > 0) {
    throw new PalisadeError('CONFIG_INVALID', `invalid Kafka security configuration:\n  ${problems.join('\n  ')}`);
  }
  return out;
}
