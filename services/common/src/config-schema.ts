// One schema per service: per key a doc line, the env name, the flag and the default, validated once into a fully
// resolved type. Services' config.ts files declare a schema; main.ts is the only place that hands in process.env.
import { PalisadeError } from './errors.js';

export interface ConfigKey<T> {
  doc: string;
  env: string;
  default: T;
  parse(raw: string): T;
  /** How the default is shown in --help and the README. */
  show?: string;
}

export type ConfigSchema = Record<string, ConfigKey<unknown>>;
export type ResolvedConfig<S extends ConfigSchema> = { readonly [K in keyof S]: S[K] extends ConfigKey<infer T> ? T : never };

export function str(doc: string, env: string, def: string): ConfigKey<string> {
  return { doc, env, default: def, parse: (raw) => raw };
}

export function oneOf<T extends string>(doc: string, env: string, def: T, allowed: readonly T[]): ConfigKey<T> {
  return {
    doc: `${doc} (${allowed.join(' | ')})`, env, default: def,
    parse: (raw) => {
      if (!(allowed as readonly string[]).includes(raw)) throw new Error(`must be one of ${allowed.join(', ')}`);
      return raw as T;
    },
  };
}

export function int(doc: string, env: string, def: number, min = 0, max = Number.MAX_SAFE_INTEGER): ConfigKey<number> {
  return {
    doc, env, default: def,
    parse: (raw) => {
      if (!/^-?\d+$/.test(raw.trim())) throw new Error('must be an integer');
      const n = Number(raw);
      if (n < min || n > max) throw new Error(`must be between ${min} and ${max}`);
      return n;
    },
  };
}

export function bool(doc: string, env: string, def: boolean): ConfigKey<boolean> {
  return {
    doc, env, default: def,
    parse: (raw) => {
      const v = raw.trim().toLowerCase();
      if (['true', '1', 'yes', 'on'].includes(v)) return true;
      if (['false', '0', 'no', 'off'].includes(v)) return false;
      throw new Error('must be true or false');
    },
  };
}

export function list(doc: string, env: string, def: string[]): ConfigKey<string[]> {
  return {
    doc, env, default: def, show: def.join(','),
    parse: (raw) => raw.split(',').map((s) => s.trim()).filter((s) => s.length > 0),
  };
}

export function flagName(key: string): string {
  return '--' + key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
}

export interface ConfigSources {
  env: Readonly<Record<string, string | undefined>>;
  argv: readonly string[];
}

/**
 * Resolves a schema: flag > env > default. Unknown flags and invalid values fail with one error listing every
 * problem, so a bad deployment says all that is wrong at once.
 */
export function loadConfig<S extends ConfigSchema>(schema: S, src: ConfigSources): ResolvedConfig<S> {
  const byFlag = new Map<string, string>();
  for (const key of Object.keys(schema)) byFlag.set(flagName(key), key);
  const fromFlags = new Map<string, string>();
  const problems: string[] = [];
  for (let i = 0; i < src.argv.length; i++) {
    const arg = src.argv[i] ?? '';
    if (!arg.startsWith('--')) { problems.push(`unexpected argument ${JSON.stringify(arg)}`); continue; }
    const eq = arg.indexOf('=');
    const flag = eq >= 0 ? arg.slice(0, eq) : arg;
    const key = byFlag.get(flag);
    if (key === undefined) { problems.push(`unknown flag ${flag}`); continue; }
    let value: string | undefined;
    if (eq >= 0) value = arg.slice(eq + 1);
    else if (schema[key]?.default === true || schema[key]?.default === false) {
      const next = src.argv[i + 1];
      if (next !== undefined && /^(true|false)$/i.test(next)) { value = next; i++; } else value = 'true';
    } else {
      // `--a --b` is a missing value for --a, not the value "--b" (and --b lost): a value that starts with -- needs =.
      const next = src.argv[i + 1];
      if (next !== undefined && !next.startsWith('--')) { value = next; i++; }
    }
    if (value === undefined) { problems.push(`flag ${flag} needs a value`); continue; }
    fromFlags.set(key, value);
  }
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(schema)) {
    const raw = fromFlags.get(key) ?? src.env[spec.env];
    if (raw === undefined || (raw === '' && !fromFlags.has(key))) { out[key] = spec.default; continue; }
    try {
      out[key] = spec.parse(raw);
    } catch (err) {
      const where = fromFlags.has(key) ? flagName(key) : spec.env;
      problems.push(`${where}=${JSON.stringify(raw)}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  if (problems.length > 0) {
    throw new PalisadeError('CONFIG_INVALID', `invalid configuration:\n  ${problems.join('\n  ')}`);
  }
  return out as ResolvedConfig<S>;
}

/** The schema as a help text: flag, env, default, doc. */
export function describeConfig(schema: ConfigSchema): string {
  const rows = Object.entries(schema).map(([key, s]) => {
    const def = s.show ?? JSON.stringify(s.default);
    return `  ${flagName(key).padEnd(28)} ${s.env.padEnd(34)} default ${def}\n      ${s.doc}`;
  });
  return rows.join('\n');
}

/** The schema as a Markdown table, for the README. */
export function configTable(schema: ConfigSchema): string {
  const lines = ['| flag | env | default | meaning |', '|---|---|---|---|'];
  for (const [key, s] of Object.entries(schema)) {
    const cell = (text: string): string => text.replace(/\|/g, '\\|');
    lines.push(`| \`${flagName(key)}\` | \`${s.env}\` | \`${cell(s.show ?? JSON.stringify(s.default))}\` | ${cell(s.doc)} |`);
  }
  return lines.join('\n');
}
