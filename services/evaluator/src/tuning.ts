// Rule tuning as data: which rules run, at what severity, and with which named exceptions. Read from a file or a
// folder (what a ConfigMap mounts), validated here, and handed to the Rego as data.palisade.tuning, where
// policies/lib/tuning.rego applies it to each alert. Nothing is compiled: a change is a setData, not a wasm build.
//
// The format is in policies/README.md ("Tuning"); policies/tuning.example.yaml is a complete example. Every setting
// keeps where it came from (file and key), so `palisade rules list` can say why a rule is off.
//
// Why no wildcard and no precedence: in Falco, tuning is code appended to shared macros and lists, so one edit can
// quiet rules it never named (falcosecurity/falco#1627, #3604). Here an exception belongs to the rules it is filed
// under (or lists in `rules:`), two files that disagree are an error rather than a load-order contest, and an unknown
// key or rule id is refused instead of ignored.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { PalisadeError } from '@palisade/common';
import type { RuleMetadata, RuleSeverity } from './policy-engine.js';

export const TUNING_API_VERSION = 'palisade.dev/v1alpha1';
export const TUNING_KIND = 'RuleTuning';
/** Files of a tuning folder that are read; everything else (and dot files: a ConfigMap's ..data) is not. */
export const TUNING_EXTENSIONS: readonly string[] = ['.yaml', '.yml', '.json'];

/** What an exception can match on. Keep in sync with `fields` in policies/lib/tuning.rego. */
export const EXCEPTION_FIELDS = ['namespace', 'workload', 'image', 'binary', 'path', 'parent', 'user'] as const;
export type ExceptionField = (typeof EXCEPTION_FIELDS)[number];

const SEVERITIES: readonly RuleSeverity[] = ['info', 'low', 'medium', 'high', 'critical'];
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/** Where a setting was written: the file and the key inside it (`rules.PAL-002.exceptions[0]`). */
export interface TuningSource {
  readonly file: string;
  readonly key: string;
}

export interface RuleException {
  readonly name: string;
  readonly reason: string;
  /** Values per field; the fields are ANDed, the values of one field ORed. `user` holds uids. */
  readonly match: Readonly<Partial<Record<ExceptionField, readonly (string | number)[]>>>;
  /** Set for an exception of the top-level `exceptions` list: the rules it names. */
  readonly rules?: readonly string[];
  readonly source: TuningSource;
}

export interface Setting<T> {
  readonly value: T;
  readonly source: TuningSource;
}

export interface RuleTuning {
  readonly enabled?: Setting<boolean>;
  readonly severity?: Setting<RuleSeverity>;
  /** The rule's own exceptions, then the global ones that name it. */
  readonly exceptions: readonly RuleException[];
}

export interface Tuning {
  /** Only the rules something was said about. */
  readonly rules: ReadonlyMap<string, RuleTuning>;
  /** The top-level exceptions, each reaching exactly its `rules`. */
  readonly globalExceptions: readonly RuleException[];
  /** The files read, in the order they were merged (by name). */
  readonly files: readonly string[];
  /** Over every file's name and content: what changed means what is reloaded. */
  readonly sha256: string;
}

export const EMPTY_TUNING: Tuning = { rules: new Map(), globalExceptions: [], files: [], sha256: '' };

function invalid(message: string): PalisadeError {
  return new PalisadeError('CONFIG_INVALID', message);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The files a tuning path stands for: itself, or a folder's *.yaml, *.yml and *.json (not dot files), by name. */
export function tuningFiles(path: string): string[] {
  let st;
  try {
    st = statSync(path);
  } catch (err) {
    throw new PalisadeError('CONFIG_INVALID', `cannot read tuning ${path}: ${String(err)}`, { cause: err });
  }
  if (!st.isDirectory()) return [path];
  return readdirSync(path)
    .filter((n) => !n.startsWith('.') && TUNING_EXTENSIONS.includes(extname(n)))
    .sort()
    .map((n) => join(path, n))
    // A ConfigMap's keys are symlinks into ..data: stat follows them. A folder named x.yaml is not a file.
    .filter((f) => statSync(f).isFile());
}

/** The raw contents of a tuning path, read once: the watcher hashes them, loadTuning parses them. */
export function readTuning(path: string): { file: string; text: string }[] {
  return tuningFiles(path).map((file) => {
    try {
      return { file, text: readFileSync(file, 'utf8') };
    } catch (err) {
      throw new PalisadeError('CONFIG_INVALID', `cannot read tuning file ${file}: ${String(err)}`, { cause: err });
    }
  });
}

export function tuningHash(contents: readonly { file: string; text: string }[]): string {
  const h = createHash('sha256');
  for (const c of contents) h.update(`${c.file}\0${c.text}\0`);
  return h.digest('hex');
}

/** Reads and validates a tuning file or folder against the rules the loaded policy has. Throws CONFIG_INVALID. */
export function loadTuning(path: string, knownRules: ReadonlySet<string>): Tuning {
  return parseTuning(readTuning(path), knownRules);
}

/** Parses, validates and merges the documents of every file. Every problem is listed in one CONFIG_INVALID. */
export function parseTuning(contents: readonly { file: string; text: string }[], knownRules: ReadonlySet<string>): Tuning {
  const b = new TuningBuilder(knownRules);
  for (const { file, text } of contents) b.file(file, text);
  return b.finish(contents);
}

class TuningBuilder {
  readonly #known: ReadonlySet<string>;
  readonly #problems: string[] = [];
  readonly #rules = new Map<string, { enabled?: Setting<boolean>; severity?: Setting<RuleSeverity>; exceptions: RuleException[] }>();
  readonly #global: RuleException[] = [];

  constructor(known: ReadonlySet<string>) {
    this.#known = known;
  }

  file(file: string, text: string): void {
    const docs: unknown[] = [];
    if (extname(file) === '.json') {
      try {
        docs.push(JSON.parse(text));
      } catch (err) {
        this.#problems.push(`${file}: not JSON: ${err instanceof Error ? err.message : String(err)}`);
        return;
      }
    } else {
      for (const [i, d] of parseAllDocuments(text).entries()) {
        if (d.errors.length > 0) {
          this.#problems.push(`${file}: document ${i + 1} is not YAML: ${d.errors[0]?.message ?? ''}`);
          continue;
        }
        // An empty document (a ConfigMap key holding only comments, a trailing ---) says nothing.
        if (d.contents === null) continue;
        try {
          docs.push(d.toJS({ maxAliasCount: 100 }));
        } catch (err) {
          this.#problems.push(`${file}: document ${i + 1}: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
    }
    docs.forEach((d, i) => this.#document(d, docs.length > 1 ? `${file} (document ${i + 1})` : file));
  }

  #document(doc: unknown, file: string): void {
    const p = (key: string, msg: string): void => { this.#problems.push(`${file}: ${key ? `${key}: ` : ''}${msg}`); };
    if (!isRecord(doc)) { p('', `must be a mapping with apiVersion: ${TUNING_API_VERSION} and kind: ${TUNING_KIND}`); return; }
    if (doc.apiVersion !== TUNING_API_VERSION) p('apiVersion', `must be ${TUNING_API_VERSION}, got ${JSON.stringify(doc.apiVersion)}`);
    if (doc.kind !== TUNING_KIND) p('kind', `must be ${TUNING_KIND}, got ${JSON.stringify(doc.kind)}`);
    this.#unknownKeys(doc, ['apiVersion', 'kind', 'metadata', 'rules', 'exceptions'], '', p);
    if (doc.metadata !== undefined) {
      if (!isRecord(doc.metadata)) p('metadata', 'must be a mapping (name, labels, annotations)');
      else this.#unknownKeys(doc.metadata, ['name', 'labels', 'annotations'], 'metadata', p);
    }
    if (doc.rules !== undefined) {
      if (!isRecord(doc.rules)) p('rules', 'must be a mapping of rule id to its settings');
      else for (const [id, settings] of Object.entries(doc.rules)) this.#rule(id, settings, file, p);
    }
    if (doc.exceptions !== undefined) {
      if (!Array.isArray(doc.exceptions)) p('exceptions', 'must be a list');
      else doc.exceptions.forEach((x, i) => {
        const e = this.#exception(x, { file, key: `exceptions[${i}]` }, true, p);
        if (e) this.#global.push(e);
      });
    }
  }

  #rule(id: string, settings: unknown, file: string, p: (key: string, msg: string) => void): void {
    const key = `rules.${id}`;
    if (!this.#known.has(id)) {
      p(key, `unknown rule id (the loaded policy has ${[...this.#known].sort().join(', ') || 'no rules'})`);
      return;
    }
    if (!isRecord(settings)) { p(key, 'must be a mapping (enabled, severity, exceptions)'); return; }
    this.#unknownKeys(settings, ['enabled', 'severity', 'exceptions'], key, p);
    const r = this.#rules.get(id) ?? { exceptions: [] };
    this.#rules.set(id, r);
    if (settings.enabled !== undefined) {
      if (typeof settings.enabled !== 'boolean') p(`${key}.enabled`, 'must be true or false');
      else r.enabled = this.#once(r.enabled, settings.enabled, { file, key: `${key}.enabled` }, p);
    }
    if (settings.severity !== undefined) {
      const s = settings.severity;
      if (typeof s !== 'string' || !(SEVERITIES as readonly string[]).includes(s)) {
        p(`${key}.severity`, `must be one of ${SEVERITIES.join(', ')}, got ${JSON.stringify(s)}`);
      } else {
        r.severity = this.#once(r.severity, s as RuleSeverity, { file, key: `${key}.severity` }, p);
      }
    }
    if (settings.exceptions !== undefined) {
      if (!Array.isArray(settings.exceptions)) p(`${key}.exceptions`, 'must be a list');
      else settings.exceptions.forEach((x, i) => {
        const e = this.#exception(x, { file, key: `${key}.exceptions[${i}]` }, false, p);
        if (e) r.exceptions.push(e);
      });
    }
  }

  // Two files may say the same thing; saying different things is an error, not a question of load order.
  #once<T>(prev: Setting<T> | undefined, value: T, source: TuningSource, p: (key: string, msg: string) => void): Setting<T> {
    if (prev !== undefined && prev.value !== value) {
      p(source.key, `${JSON.stringify(value)} contradicts ${JSON.stringify(prev.value)} set in ${prev.source.file} (${prev.source.key})`);
      return prev;
    }
    return prev ?? { value, source };
  }

  #exception(x: unknown, source: TuningSource, global: boolean, p: (key: string, msg: string) => void): RuleException | undefined {
    const key = source.key;
    if (!isRecord(x)) { p(key, 'must be a mapping with a name and at least one of ' + EXCEPTION_FIELDS.join(', ')); return undefined; }
    const before = this.#problems.length;
    this.#unknownKeys(x, ['name', 'reason', ...(global ? ['rules'] : []), ...EXCEPTION_FIELDS], key, p);
    if (typeof x.name !== 'string' || !NAME.test(x.name)) {
      p(`${key}.name`, 'required: letters, digits, ".", "_" and "-", at most 63 (it labels a metric)');
    }
    if (x.reason !== undefined && typeof x.reason !== 'string') p(`${key}.reason`, 'must be a string');
    let rules: string[] | undefined;
    if (global) {
      // No "*": a global exception reaches the rules it lists, and a rule added later is not silenced by surprise.
      if (!Array.isArray(x.rules) || x.rules.length === 0 || !x.rules.every((r) => typeof r === 'string')) {
        p(`${key}.rules`, 'required: the rule ids this exception applies to (a list; there is no wildcard)');
      } else {
        rules = [...new Set(x.rules as string[])];
        for (const r of rules) if (!this.#known.has(r)) p(`${key}.rules`, `unknown rule id ${r}`);
      }
    }
    const match: Partial<Record<ExceptionField, (string | number)[]>> = {};
    for (const f of EXCEPTION_FIELDS) {
      if (x[f] === undefined) continue;
      const vals = fieldValues(f, x[f]);
      if (typeof vals === 'string') p(`${key}.${f}`, vals);
      else match[f] = vals;
    }
    if (!EXCEPTION_FIELDS.some((f) => x[f] !== undefined)) {
      p(key, `matches nothing: give at least one of ${EXCEPTION_FIELDS.join(', ')} (to turn the rule off, use enabled: false)`);
    }
    if (this.#problems.length > before) return undefined;
    return { name: x.name as string, reason: typeof x.reason === 'string' ? x.reason : '', match, ...(rules && { rules }), source };
  }

  #unknownKeys(o: Record<string, unknown>, allowed: readonly string[], key: string, p: (key: string, msg: string) => void): void {
    for (const k of Object.keys(o)) {
      if (!allowed.includes(k)) p(key ? `${key}.${k}` : k, `unknown key (expected ${allowed.join(', ')})`);
    }
  }

  finish(contents: readonly { file: string; text: string }[]): Tuning {
    // Names identify an exception in alerts, metrics and `rules list`: one name, one exception, per rule.
    const perRule = new Map<string, RuleException[]>();
    for (const [id, r] of this.#rules) perRule.set(id, [...r.exceptions]);
    for (const g of this.#global) {
      for (const id of g.rules ?? []) perRule.set(id, [...(perRule.get(id) ?? []), g]);
    }
    for (const [id, xs] of perRule) {
      const seen = new Map<string, TuningSource>();
      for (const x of xs) {
        const prev = seen.get(x.name);
        if (prev) this.#problems.push(`${x.source.file}: ${x.source.key}: exception name ${x.name} is already used for ${id} in ${prev.file} (${prev.key})`);
        seen.set(x.name, x.source);
      }
    }
    if (this.#problems.length > 0) {
      throw invalid(`invalid tuning:\n  ${this.#problems.join('\n  ')}`);
    }
    const rules = new Map<string, RuleTuning>();
    for (const [id, xs] of perRule) {
      const r = this.#rules.get(id);
      rules.set(id, {
        ...(r?.enabled && { enabled: r.enabled }), ...(r?.severity && { severity: r.severity }), exceptions: xs,
      });
    }
    return { rules, globalExceptions: this.#global, files: contents.map((c) => c.file), sha256: tuningHash(contents) };
  }
}

/** A field's values as a list, or the reason they are refused. */
function fieldValues(f: ExceptionField, raw: unknown): (string | number)[] | string {
  const list = Array.isArray(raw) ? raw : [raw];
  if (list.length === 0) return 'an empty list matches nothing: leave the field out';
  const out: (string | number)[] = [];
  for (const v of list) {
    if (f === 'user') {
      // The events carry uids only: the container's /etc/passwd is not the node's, so names cannot be resolved
      // faithfully. "root" is uid 0 everywhere.
      if (v === 'root') out.push(0);
      else if (typeof v === 'number' && Number.isInteger(v) && v >= 0) out.push(v);
      else if (typeof v === 'string' && /^\d+$/.test(v)) out.push(Number(v));
      else return `${JSON.stringify(v)}: a uid (a number) or "root"; user names are not known to the evaluator`;
      continue;
    }
    if (typeof v !== 'string' || v === '') return `${JSON.stringify(v)}: must be a non-empty string`;
    // glob.match would fail the whole evaluation on a bad pattern; {…} alternation and escapes are not part of the
    // documented syntax, so they are refused rather than half-supported.
    if (/[{}\\]/.test(v)) return `${JSON.stringify(v)}: { } and \\ are not allowed (globs are * ? and [...])`;
    if (!balancedClasses(v)) return `${JSON.stringify(v)}: unbalanced [ ] in the glob`;
    if (f === 'workload' && v.split('/').length > 2) return `${JSON.stringify(v)}: Kind/name or name`;
    if ((f === 'path') && !v.startsWith('/')) return `${JSON.stringify(v)}: an absolute path`;
    out.push(v);
  }
  return out;
}

function balancedClasses(v: string): boolean {
  let open = false;
  for (const c of v) {
    if (c === '[') { if (open) return false; open = true; }
    else if (c === ']') { if (!open) return false; open = false; }
  }
  return !open;
}

/** data.palisade.tuning, as policies/lib/tuning.rego reads it. */
export function tuningData(t: Tuning): Record<string, unknown> {
  const exception = (x: RuleException): Record<string, unknown> => ({
    name: x.name, ...(x.reason && { reason: x.reason }), ...(x.rules && { rules: x.rules }), ...x.match,
  });
  const rules: Record<string, unknown> = {};
  for (const [id, r] of t.rules) {
    rules[id] = {
      ...(r.enabled && { enabled: r.enabled.value }),
      ...(r.severity && { severity: r.severity.value }),
      // Global exceptions go in their own list (the Rego reads them there), not copied under each rule.
      exceptions: r.exceptions.filter((x) => x.rules === undefined).map(exception),
    };
  }
  return { rules, exceptions: t.globalExceptions.map(exception) };
}

export function isEnabled(t: Tuning, id: string): boolean {
  return t.rules.get(id)?.enabled?.value !== false;
}

/** One rule as `palisade rules list` shows it. */
export interface RuleStatus {
  readonly id: string;
  readonly title: string;
  readonly severity: RuleSeverity;
  /** The tuned severity, when the tuning overrides it. */
  readonly severityOverride?: Setting<RuleSeverity>;
  readonly mitre: string;
  readonly eventKinds: readonly string[];
  readonly enabled: boolean;
  /** "default", or where enabled was set: `<file>: rules.<id>.enabled`. */
  readonly why: string;
  readonly exceptions: readonly RuleException[];
}

export function ruleStatuses(rules: readonly RuleMetadata[], t: Tuning): RuleStatus[] {
  return [...rules].sort((a, b) => a.id.localeCompare(b.id)).map((r) => {
    const tuned = t.rules.get(r.id);
    return {
      id: r.id, title: r.title, severity: r.severity, ...(tuned?.severity && { severityOverride: tuned.severity }),
      mitre: r.mitre, eventKinds: r.eventKinds, enabled: tuned?.enabled?.value !== false,
      why: tuned?.enabled ? `${tuned.enabled.source.file}: ${tuned.enabled.source.key}` : 'default',
      exceptions: tuned?.exceptions ?? [],
    };
  });
}
