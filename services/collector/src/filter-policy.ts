// A TracingPolicy-like YAML document -> the KernelFilter that BpfSession.setFilter writes into the BPF maps.
//
//   apiVersion: palisade.dev/v1alpha1
//   kind: TracingPolicy
//   metadata: { name: quiet-and-strict }
//   spec:
//     kinds: [exec, exit, file_open, net_connect]  # optional: the event kinds emitted at all (default: every kind)
//     selectors:
//       - binaries: [/usr/bin/kubelet]      # by executable: the full path of the file the process runs
//         action: Drop                      # (mm->exe_file, as the kernel resolved it in the process' root)
//       - binaryPrefixes: [/opt/agent/]     # by executable path prefix (at most 8, 64 bytes); an exact entry wins
//         kinds: [file_open]                # optional: only these kinds of their events (default: all)
//         action: Drop
//       - comms: [kubelet]                  # by process name (comm): exact, at most 15 bytes; the process can set
//         action: Drop                      # it itself (prctl PR_SET_NAME), so prefer binaries
//       - commPrefixes: [systemd-]          # by comm prefix (at most 8 in all); an exact comms entry wins
//       - pathPrefixes: [/etc/kubernetes/pki/]
//         action: Sigkill                   # whoever opens a path under here is killed in that open
//       - cgroups: [/kubepods.slice/kubepods-besteffort.slice, 4242]  # paths below the cgroup2 mount, or ids
//         match: NotIn                      # optional: In (default) or NotIn ("only these cgroups"; Drop only)
//         action: Drop                      # a cgroup covers its descendants (a pod covers its containers)
//       - ports: [53]                       # net_connect destination port
//         action: Post                      # emit (what happens anyway) ...
//         rateLimit: {events: 100, seconds: 1}  # ... at most this often per process; the rest counted rate_limited
//
// binaries and binaryPrefixes follow Tetragon's matchBinaries: full paths (a name without a '/' is refused, naming
// `comms`). The executable's and the comm's selectors are both checked: a Drop of either drops, and a Sigkill of
// either kills (reason "exe" or "binary").
//
// Each selector has exactly one of binaries, binaryPrefixes, comms, commPrefixes, pathPrefixes, cgroups, ports:
// the kernel filter cannot
// yet express an AND of two (e.g. "these binaries opening these paths"), and accepting it as an OR would drop or
// kill far more than was written. Unknown keys are errors: a typo such as `pathPrefix:` must not silently turn a
// rule off.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ABI, KIND_ID_BY_NAME, PalisadeError } from '@palisade/common';
import { DEFAULT_CGROUP2_ROOT } from './cgroup-resolver.js';
import {
  COMM_MAX_BYTES, EXE_PATH_MAX_BYTES, resolveKernelFilter, type FilterAction, type KernelFilter, type RateLimit,
} from './kernel-filter-compile.js';

const C = ABI.constants;

export const TRACING_POLICY_API_VERSION = 'palisade.dev/v1alpha1';
export const TRACING_POLICY_KIND = 'TracingPolicy';

export type PolicyAction = 'Drop' | 'Sigkill' | 'Post';

const ACTIONS: Readonly<Record<PolicyAction, FilterAction>> = { Drop: 'drop', Sigkill: 'sigkill', Post: 'post' };

/**
 * Event kind names as the registry spells them (bpf/include/palisade.h): the Rego `kind`, the RawEvent oneof field.
 * A kind this build has no name for can still be given by its id.
 */
export const EVENT_KIND_IDS: Readonly<Record<string, number>> = KIND_ID_BY_NAME;

export interface TracingPolicy {
  readonly name: string;
  readonly filter: KernelFilter;
  /** Things skipped rather than refused (a cgroup path that does not exist now); worth a log line. */
  readonly warnings: readonly string[];
}

export interface ParseOptions {
  /** cgroup2 mount point that cgroup paths are relative to. */
  cgroupRoot?: string;
  /** cgroup path -> id; default: the inode number of <cgroupRoot>/<path> (undefined when it does not exist). */
  resolveCgroup?: (path: string) => number | undefined;
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

class Checker {
  constructor(private readonly source: string) {}

  fail(where: string, message: string): never {
    throw new PalisadeError('CONFIG_INVALID', `${this.source}: ${where} ${message}`);
  }

  obj(v: unknown, where: string, allowed: readonly string[]): Obj {
    if (!isObj(v)) this.fail(where, `must be a mapping, got ${describe(v)}`);
    for (const key of Object.keys(v)) {
      if (!allowed.includes(key)) this.fail(`${where}.${key}`, `is not a known field (expected one of: ${allowed.join(', ')})`);
    }
    return v;
  }

  list(v: unknown, where: string): unknown[] {
    if (!Array.isArray(v) || v.length === 0) this.fail(where, `must be a non-empty list, got ${describe(v)}`);
    return v;
  }

  strings(v: unknown, where: string): string[] {
    if (!Array.isArray(v) || v.length === 0) this.fail(where, `must be a non-empty list of strings, got ${describe(v)}`);
    return v.map((item, i) => {
      if (typeof item !== 'string' || item === '') this.fail(`${where}[${i}]`, `must be a non-empty string, got ${describe(item)}`);
      return item;
    });
  }

  kinds(v: unknown, where: string): number[] {
    return this.list(v, where).map((k, i) => {
      if (typeof k === 'string' && EVENT_KIND_IDS[k] !== undefined) return EVENT_KIND_IDS[k];
      if (typeof k === 'number' && Number.isInteger(k) && k >= 1 && k < C.filterKinds) return k;
      return this.fail(`${where}[${i}]`, `must be an event kind (${Object.keys(EVENT_KIND_IDS).join(', ')}, or an id 1-63), got ${describe(k)}`);
    });
  }

  rateLimit(v: unknown, where: string): RateLimit {
    const r = this.obj(v, where, ['events', 'seconds']);
    if (typeof r.events !== 'number' || !Number.isInteger(r.events) || r.events < 1) {
      this.fail(`${where}.events`, `must be a positive integer, got ${describe(r.events)}`);
    }
    if (typeof r.seconds !== 'number' || !(r.seconds > 0) || r.seconds > 86_400) {
      this.fail(`${where}.seconds`, `must be a number of seconds in (0, 86400], got ${describe(r.seconds)}`);
    }
    return { events: r.events, seconds: r.seconds };
  }
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return JSON.stringify(v);
}

/** The cgroup v2 id of a path below the cgroup2 mount (its directory's inode number), or undefined if it is gone. */
export function cgroupIdOf(path: string, root = DEFAULT_CGROUP2_ROOT): number | undefined {
  const full = path.startsWith(`${root}/`) || path === root ? path : join(root, path);
  try {
    return statSync(full).ino;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

const SELECTOR_KEYS = ['binaries', 'binaryPrefixes', 'comms', 'commPrefixes', 'pathPrefixes', 'cgroups', 'ports'] as const;
type SelectorKey = (typeof SELECTOR_KEYS)[number];

/** Actions each selector can take, and whether it accepts `kinds` (path prefixes and ports have one kind). */
const SELECTOR_RULES: Readonly<Record<SelectorKey, { actions: readonly PolicyAction[]; kinds: boolean }>> = {
  binaries: { actions: ['Drop', 'Sigkill', 'Post'], kinds: true },
  binaryPrefixes: { actions: ['Drop', 'Sigkill', 'Post'], kinds: true },
  comms: { actions: ['Drop', 'Sigkill', 'Post'], kinds: true },
  commPrefixes: { actions: ['Drop', 'Sigkill', 'Post'], kinds: true },
  pathPrefixes: { actions: ['Drop', 'Sigkill'], kinds: false },
  cgroups: { actions: ['Drop', 'Post'], kinds: true },
  ports: { actions: ['Drop', 'Post'], kinds: false },
};

/**
 * Parses one TracingPolicy document. Throws CONFIG_INVALID naming the source, the field path and what is wrong.
 * `source` (a file name, or "ConfigMap x") only labels the errors. Cgroup paths are resolved to ids here.
 */
export function parseTracingPolicy(text: string, source = 'policy', opts: ParseOptions = {}): TracingPolicy {
  // Annotated so that TypeScript narrows after check.fail(), which returns never.
  const check: Checker = new Checker(source);
  const resolveCgroup = opts.resolveCgroup ?? ((p: string) => cgroupIdOf(p, opts.cgroupRoot));
  // logLevel error: yaml's warnings (a collection used as a key) would go to process warnings, not to this check.
  const docs = parseAllDocuments(text, { logLevel: 'error' });
  if (!Array.isArray(docs)) check.fail('document', 'is empty');
  if (docs.length !== 1) check.fail('document', `must hold exactly one policy, found ${docs.length}`);
  const doc = docs[0];
  if (doc === undefined) check.fail('document', 'is empty');
  const firstError = doc.errors[0];
  if (firstError !== undefined) check.fail('YAML', `is malformed: ${firstError.message}`);
  let js: unknown;
  try {
    // An unresolved alias or an alias bomb throws here (found by fuzzing: test/fuzz); a config error, like the rest.
    js = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    check.fail('YAML', `cannot be read: ${err instanceof Error ? err.message : String(err)}`);
  }
  const root = check.obj(js, 'document', ['apiVersion', 'kind', 'metadata', 'spec']);

  if (root.apiVersion !== TRACING_POLICY_API_VERSION) {
    check.fail('apiVersion', `must be ${TRACING_POLICY_API_VERSION}, got ${describe(root.apiVersion)}`);
  }
  if (root.kind !== TRACING_POLICY_KIND) check.fail('kind', `must be ${TRACING_POLICY_KIND}, got ${describe(root.kind)}`);
  const metadata = check.obj(root.metadata, 'metadata', ['name', 'labels', 'annotations']);
  if (typeof metadata.name !== 'string' || metadata.name === '') {
    check.fail('metadata.name', `must be a non-empty string, got ${describe(metadata.name)}`);
  }
  const spec = check.obj(root.spec, 'spec', ['kinds', 'selectors']);
  if (!Array.isArray(spec.selectors)) check.fail('spec.selectors', `must be a list, got ${describe(spec.selectors)}`);
  const kinds = spec.kinds === undefined ? undefined : check.kinds(spec.kinds, 'spec.kinds');

  const warnings: string[] = [];
  const binaries: NonNullable<KernelFilter['binaries']>[number][] = [];
  const binaryPrefixes: NonNullable<KernelFilter['binaryPrefixes']>[number][] = [];
  const executables: NonNullable<KernelFilter['executables']>[number][] = [];
  const executablePrefixes: NonNullable<KernelFilter['executablePrefixes']>[number][] = [];
  const pathPrefixes: KernelFilter['pathPrefixes'][number][] = [];
  const cgroups: NonNullable<KernelFilter['cgroups']>[number][] = [];
  const ports: NonNullable<KernelFilter['ports']>[number][] = [];
  let onlyCgroups: number[] | undefined;

  spec.selectors.forEach((raw: unknown, i: number) => {
    const where = `spec.selectors[${i}]`;
    const sel = check.obj(raw, where, [...SELECTOR_KEYS, 'action', 'kinds', 'rateLimit', 'match']);
    const present = SELECTOR_KEYS.filter((k) => sel[k] !== undefined);
    const key = present[0];
    if (key === undefined) check.fail(where, `needs one of ${SELECTOR_KEYS.join(', ')}`);
    if (present.length > 1) {
      check.fail(where, `has both ${present[0]} and ${present[1]}: the kernel filter cannot match both at once yet; split it into two selectors`);
    }
    const rules = SELECTOR_RULES[key];
    const actionName = sel.action;
    if (typeof actionName !== 'string' || !(rules.actions as readonly string[]).includes(actionName)) {
      check.fail(`${where}.action`, `must be ${rules.actions.join(' or ')} for ${key}, got ${describe(actionName)}`);
    }
    const action = ACTIONS[actionName as PolicyAction];
    if (sel.rateLimit !== undefined && action !== 'post') check.fail(`${where}.rateLimit`, 'needs action Post');
    if (sel.rateLimit !== undefined && key === 'pathPrefixes') check.fail(`${where}.rateLimit`, 'is not supported on pathPrefixes');
    // One object per selector: resolveKernelFilter gives each distinct object its own bucket per process.
    const rateLimit = sel.rateLimit === undefined ? undefined : check.rateLimit(sel.rateLimit, `${where}.rateLimit`);
    if (sel.kinds !== undefined && !rules.kinds) check.fail(`${where}.kinds`, `is not supported on ${key} (they have one kind)`);
    const selKinds = sel.kinds === undefined ? undefined : check.kinds(sel.kinds, `${where}.kinds`);
    if (selKinds !== undefined && action === 'sigkill') check.fail(`${where}.kinds`, 'does not apply to Sigkill, which acts at opens');
    if (sel.match !== undefined && key !== 'cgroups') check.fail(`${where}.match`, 'applies to cgroups only');
    const extra = { ...(rateLimit && { rateLimit }), ...(selKinds && { kinds: selKinds }) };

    if (key === 'binaries') {
      check.strings(sel.binaries, `${where}.binaries`).forEach((path, j) => {
        const at = `${where}.binaries[${j}]`;
        if (!path.startsWith('/')) {
          check.fail(at, `'${path}' is not an absolute path: binaries match the executable's full path (e.g. /usr/bin/${path}); to match the process name (comm), use comms: [${path}]`);
        }
        const bytes = Buffer.byteLength(path, 'utf8');
        if (bytes > EXE_PATH_MAX_BYTES) check.fail(at, `is ${bytes} bytes; at most ${EXE_PATH_MAX_BYTES}`);
        executables.push({ path, action, ...extra });
      });
    } else if (key === 'binaryPrefixes') {
      check.strings(sel.binaryPrefixes, `${where}.binaryPrefixes`).forEach((prefix, j) => {
        const at = `${where}.binaryPrefixes[${j}]`;
        if (!prefix.startsWith('/')) {
          check.fail(at, `'${prefix}' is not an absolute path: binaryPrefixes match the executable's full path; to match a process name prefix (comm), use commPrefixes: [${prefix}]`);
        }
        const bytes = Buffer.byteLength(prefix, 'utf8');
        if (bytes > C.filterPrefixMax) check.fail(at, `is ${bytes} bytes; at most ${C.filterPrefixMax}`);
        executablePrefixes.push({ prefix, action, ...extra });
      });
    } else if (key === 'comms') {
      check.strings(sel.comms, `${where}.comms`).forEach((name, j) => {
        const at = `${where}.comms[${j}]`;
        if (name.includes('/')) {
          check.fail(at, `'${name}' is a path: comms match the process name, so write '${name.slice(name.lastIndexOf('/') + 1)}' (or use binaries: [${name}] for the executable)`);
        }
        const bytes = Buffer.byteLength(name, 'utf8');
        if (bytes > COMM_MAX_BYTES) {
          check.fail(at, `'${name}' is ${bytes} bytes but the kernel keeps only the first ${COMM_MAX_BYTES} of a process name; write those`);
        }
        binaries.push({ comm: name, action, ...extra });
      });
    } else if (key === 'commPrefixes') {
      check.strings(sel.commPrefixes, `${where}.commPrefixes`).forEach((prefix, j) => {
        const bytes = Buffer.byteLength(prefix, 'utf8');
        if (bytes > COMM_MAX_BYTES) {
          check.fail(`${where}.commPrefixes[${j}]`, `'${prefix}' is ${bytes} bytes; a process name has at most ${COMM_MAX_BYTES}`);
        }
        binaryPrefixes.push({ prefix, action, ...extra });
      });
    } else if (key === 'pathPrefixes') {
      check.strings(sel.pathPrefixes, `${where}.pathPrefixes`).forEach((prefix, j) => {
        const at = `${where}.pathPrefixes[${j}]`;
        if (!prefix.startsWith('/')) check.fail(at, `'${prefix}' must be an absolute path`);
        const bytes = Buffer.byteLength(prefix, 'utf8');
        if (bytes > C.filterPrefixMax) check.fail(at, `is ${bytes} bytes; at most ${C.filterPrefixMax}`);
        pathPrefixes.push({ prefix, action: action === 'sigkill' ? 'sigkill' : 'drop' });
      });
    } else if (key === 'cgroups') {
      const match = sel.match ?? 'In';
      if (match !== 'In' && match !== 'NotIn') check.fail(`${where}.match`, `must be In or NotIn, got ${describe(match)}`);
      if (match === 'NotIn' && (action !== 'drop' || rateLimit !== undefined || selKinds !== undefined)) {
        check.fail(where, 'match NotIn ("only these cgroups") takes action Drop, without rateLimit or kinds');
      }
      const ids: number[] = [];
      check.list(sel.cgroups, `${where}.cgroups`).forEach((c, j) => {
        const at = `${where}.cgroups[${j}]`;
        if (typeof c === 'number') {
          if (!Number.isSafeInteger(c) || c < 1) check.fail(at, `must be a cgroup id (a positive integer) or a path, got ${describe(c)}`);
          ids.push(c);
        } else if (typeof c === 'string' && c.startsWith('/')) {
          const id = resolveCgroup(c);
          if (id === undefined) warnings.push(`${source}: ${at} '${c}' does not exist (now); skipped`);
          else ids.push(id);
        } else {
          check.fail(at, `must be a cgroup id or a path starting with '/', got ${describe(c)}`);
        }
      });
      if (match === 'NotIn') {
        if (ids.length === 0) check.fail(`${where}.cgroups`, 'resolve to no cgroup: "only these cgroups" would drop every event');
        onlyCgroups = [...(onlyCgroups ?? []), ...ids];
      } else {
        for (const id of ids) cgroups.push({ id, action: action === 'drop' ? 'drop' : 'post', ...extra });
      }
    } else {
      check.list(sel.ports, `${where}.ports`).forEach((p, j) => {
        if (typeof p !== 'number' || !Number.isInteger(p) || p < 1 || p > 65535) {
          check.fail(`${where}.ports[${j}]`, `must be a port 1-65535, got ${describe(p)}`);
        }
        ports.push({ port: p, action: action === 'drop' ? 'drop' : 'post', ...(rateLimit && { rateLimit }) });
      });
    }
  });
  if (pathPrefixes.length > C.filterPrefixes) {
    check.fail('spec.selectors', `list ${pathPrefixes.length} path prefixes in all; the kernel filter holds ${C.filterPrefixes}`);
  }
  if (binaryPrefixes.length > C.filterCommPrefixes) {
    check.fail('spec.selectors', `list ${binaryPrefixes.length} comm prefixes in all; the kernel filter holds ${C.filterCommPrefixes}`);
  }
  if (executablePrefixes.length > C.filterExePrefixes) {
    check.fail('spec.selectors', `list ${executablePrefixes.length} binary prefixes in all; the kernel filter holds ${C.filterExePrefixes}`);
  }
  const filter: KernelFilter = {
    binaries,
    pathPrefixes,
    ...(binaryPrefixes.length > 0 && { binaryPrefixes }),
    ...(executables.length > 0 && { executables }),
    ...(executablePrefixes.length > 0 && { executablePrefixes }),
    ...(cgroups.length > 0 && { cgroups }),
    ...(onlyCgroups !== undefined && { onlyCgroups }),
    ...(ports.length > 0 && { ports }),
    ...(kinds !== undefined && { kinds }),
  };
  // The limits are the native layer's; running its validation here keeps the two from drifting apart.
  try {
    resolveKernelFilter(filter);
  } catch (err) {
    check.fail('spec', err instanceof Error ? err.message : String(err));
  }
  return { name: metadata.name, filter, warnings };
}
