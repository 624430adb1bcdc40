// Secrets on command lines never leave the collector: `mysql --password=hunter2`, `curl -H "Authorization: Bearer
// …"`, `AWS_SECRET_ACCESS_KEY=… aws s3 ls`, `git clone https://user:token@host/…` would otherwise sit in every
// raw, enriched and alert record, in Kafka's retention and in the SIEM. Each argument is checked against the built-in
// patterns (a flag or NAME=value whose name says secret, a flag whose next argument is the secret, credentials in a
// URL, well-known token formats) and the operator's extra ones; only the secret part is replaced, so rules still
// see which flag or variable was used.
import { PalisadeError } from '@palisade/common';

export const REDACTED = '[REDACTED]';

/** Name fragments that mark a flag or variable as holding a secret (matched case-insensitively, _ and - alike). */
const SECRET_NAME = '(?:pass(?:word|wd|phrase)?|pwd|secret|token|api[-_]?key|access[-_]?key|private[-_]?key|' +
  'client[-_]?secret|credentials?|auth(?:orization)?|session[-_]?key|sas[-_]?key|connection[-_]?string)';

/** `--password=x`, `-token=x`, `DB_PASSWORD=x`, `password:x`: group 1 kept, group 2 redacted. */
const NAMED_VALUE = new RegExp(`^(-{0,2}[\\w.-]*${SECRET_NAME}[\\w.-]*[=:])(.+)$`, 'i');
/** `--password x`, `-p x` is too common to mean a secret: only named flags take the next argument. */
const NAMED_FLAG = new RegExp(`^-{1,2}[\\w.-]*${SECRET_NAME}[\\w.-]*$`, 'i');
/** Flags that are not secrets although their names match (`--auth-type basic`, `--no-password`). */
const NOT_SECRET_FLAG = /^-{1,2}(?:no-|[\w.-]*(?:-type|-method|-mode|-file|-path|-dir|-url)$)/i;

/** Inline secrets, anywhere in an argument: the `secret` group when there is one, else the whole match. */
const INLINE: readonly RegExp[] = [
  /[a-z][a-z0-9+.-]*:\/\/[^/\s:@]+:(?<secret>[^@\s/]+)@/gi,             // scheme://user:PASSWORD@host
  /\bBearer\s+(?<secret>[A-Za-z0-9._~+/=-]{8,})/g,                      // Authorization: Bearer TOKEN
  /\bBasic\s+(?<secret>[A-Za-z0-9+/=]{8,})/g,                           // Authorization: Basic B64
  /\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/g,                                     // AWS access key id
  /\bgh[pousr]_[A-Za-z0-9]{30,}\b/g,                                    // GitHub tokens
  /\bxox[abprs]-[A-Za-z0-9-]{10,}\b/g,                                  // Slack tokens
  /\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/g,   // JWTs (service-account tokens too)
  /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*/g,                         // a PEM key passed inline
];

export interface RedactorOptions {
  /** false: argv goes out as the kernel read it. */
  readonly enabled: boolean;
  /** Extra regular expressions: each match in an argument is redacted (only its `(?<secret>…)` group, if it has one). */
  readonly patterns?: readonly string[];
}

export class ArgvRedactor {
  private readonly enabled: boolean;
  /** The built-in inline patterns, then the operator's: built once, not per argument. */
  private readonly inline: readonly RegExp[];
  /** Arguments redacted so far (for the collector's metrics). */
  redacted = 0;

  constructor(opts: RedactorOptions) {
    this.enabled = opts.enabled;
    this.inline = [...INLINE, ...(opts.patterns ?? []).map((p, i) => {
      try {
        return new RegExp(p, 'g');
      } catch (err) {
        throw new PalisadeError('CONFIG_INVALID', `redact pattern ${i + 1} (${JSON.stringify(p)}) is not a regular expression: ${String(err)}`);
      }
    })];
  }

  /** argv with every secret replaced; the same array when nothing matched (the common case costs no copy). */
  redact(argv: string[]): string[] {
    if (!this.enabled) return argv;
    let out: string[] | undefined;
    for (let i = 0; i < argv.length; i++) {
      const arg = argv[i]!;
      let next = this.redactOne(arg);
      const prev = i > 0 ? argv[i - 1]! : '';
      if (next === arg && i > 0 && NAMED_FLAG.test(prev) && !NOT_SECRET_FLAG.test(prev) && !arg.startsWith('-')) next = REDACTED;
      if (next !== arg) {
        out ??= argv.slice();
        out[i] = next;
        this.redacted++;
      }
    }
    return out ?? argv;
  }

  /**
   * One environment value (an exec's LD_PRELOAD, …), checked as the argument `NAME=value` would be: the name stays,
   * a secret in the value (a token, credentials in a URL, an operator pattern) becomes [REDACTED].
   */
  redactEnv(name: string, value: string): string {
    if (!this.enabled || value === '') return value;
    const arg = `${name}=${value}`;
    const next = this.redactOne(arg);
    if (next === arg) return value;
    this.redacted++;
    return next.startsWith(`${name}=`) ? next.slice(name.length + 1) : REDACTED;
  }

  private redactOne(arg: string): string {
    let s = arg;
    const named = NAMED_VALUE.exec(s);
    if (named !== null && !NOT_SECRET_FLAG.test(named[1]!.replace(/[=:]$/, ''))) s = `${named[1]}${REDACTED}`;
    for (const re of this.inline) s = redactMatches(s, re);
    return s;
  }
}

function redactMatches(s: string, re: RegExp): string {
  re.lastIndex = 0;
  return s.replace(re, (match: string, ...rest: unknown[]) => {
    const groups = rest[rest.length - 1];
    const secret = typeof groups === 'object' && groups !== null ? (groups as Record<string, string | undefined>)['secret'] : undefined;
    if (secret === undefined || secret === '') return REDACTED;
    const at = match.lastIndexOf(secret);
    return `${match.slice(0, at)}${REDACTED}${match.slice(at + secret.length)}`;
  });
}
