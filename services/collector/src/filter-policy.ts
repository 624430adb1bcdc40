// A TracingPolicy-like YAML document -> the KernelFilter that BpfSession.setFilter writes into the BPF maps.
//
//   apiVersion: palisade.dev/v1alpha1
//   kind: TracingPolicy
//   metadata: { name: quiet-and-strict }
//   spec:
//     selectors:
//       - binaries: [kubelet, containerd]   # by process name (comm): exact, at most 15 bytes, no path
//         action: Drop                      # their events never leave the kernel
//       - pathPrefixes: [/etc/kubernetes/pki/]
//         action: Sigkill                   # whoever opens a path under here is killed in that open
//
// Each selector has either binaries or pathPrefixes: the kernel filter cannot yet express "these binaries opening
// these paths" (an AND of both), and accepting it as an OR would kill or hide far more than was written.
// Unknown keys are errors: a typo such as `pathPrefix:` must not silently turn a rule off.
import { parseAllDocuments } from 'yaml';
import { PalisadeError } from '@palisade/common';
import { COMM_MAX_BYTES, FILTER_ABI, resolveKernelFilter, type FilterAction, type KernelFilter } from './native.js';

export const TRACING_POLICY_API_VERSION = 'palisade.dev/v1alpha1';
export const TRACING_POLICY_KIND = 'TracingPolicy';

export type PolicyAction = 'Drop' | 'Sigkill';

const ACTIONS: Readonly<Record<PolicyAction, FilterAction>> = { Drop: 'drop', Sigkill: 'sigkill' };

export interface TracingPolicy {
  readonly name: string;
  readonly filter: KernelFilter;
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

  strings(v: unknown, where: string): string[] {
    if (!Array.isArray(v) || v.length === 0) this.fail(where, `must be a non-empty list of strings, got ${describe(v)}`);
    return v.map((item, i) => {
      if (typeof item !== 'string' || item === '') this.fail(`${where}[${i}]`, `must be a non-empty string, got ${describe(item)}`);
      return item;
    });
  }
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return JSON.stringify(v);
}

/**
 * Parses one TracingPolicy document. Throws CONFIG_INVALID naming the source, the field path and what is wrong.
 * `source` (a file name, or "ConfigMap x") only labels the errors.
 */
export function parseTracingPolicy(text: string, source = 'policy'): TracingPolicy {
  // Annotated so that TypeScript narrows after check.fail(), which returns never.
  const check: Checker = new Checker(source);
  const docs = parseAllDocuments(text);
  if (!Array.isArray(docs)) check.fail('document', 'is empty');
  if (docs.length !== 1) check.fail('document', `must hold exactly one policy, found ${docs.length}`);
  const doc = docs[0];
  if (doc === undefined) check.fail('document', 'is empty');
  const firstError = doc.errors[0];
  if (firstError !== undefined) check.fail('YAML', `is malformed: ${firstError.message}`);
  const root = check.obj(doc.toJS(), 'document', ['apiVersion', 'kind', 'metadata', 'spec']);

  if (root.apiVersion !== TRACING_POLICY_API_VERSION) {
    check.fail('apiVersion', `must be ${TRACING_POLICY_API_VERSION}, got ${describe(root.apiVersion)}`);
  }
  if (root.kind !== TRACING_POLICY_KIND) check.fail('kind', `must be ${TRACING_POLICY_KIND}, got ${describe(root.kind)}`);
  const metadata = check.obj(root.metadata, 'metadata', ['name', 'labels', 'annotations']);
  if (typeof metadata.name !== 'string' || metadata.name === '') {
    check.fail('metadata.name', `must be a non-empty string, got ${describe(metadata.name)}`);
  }
  const spec = check.obj(root.spec, 'spec', ['selectors']);
  if (!Array.isArray(spec.selectors)) check.fail('spec.selectors', `must be a list, got ${describe(spec.selectors)}`);

  const binaries: { comm: string; action: FilterAction }[] = [];
  const pathPrefixes: { prefix: string; action: FilterAction }[] = [];
  spec.selectors.forEach((raw: unknown, i: number) => {
    const where = `spec.selectors[${i}]`;
    const sel = check.obj(raw, where, ['binaries', 'pathPrefixes', 'action']);
    const actionName = sel.action;
    if (actionName !== 'Drop' && actionName !== 'Sigkill') {
      check.fail(`${where}.action`, `must be Drop or Sigkill, got ${describe(actionName)}`);
    }
    const action = ACTIONS[actionName];
    const hasBinaries = sel.binaries !== undefined;
    const hasPrefixes = sel.pathPrefixes !== undefined;
    if (hasBinaries === hasPrefixes) {
      check.fail(
        where,
        hasBinaries
          ? 'has both binaries and pathPrefixes: the kernel filter cannot match both at once yet; split it into two selectors'
          : 'needs binaries or pathPrefixes',
      );
    }
    if (hasBinaries) {
      check.strings(sel.binaries, `${where}.binaries`).forEach((name, j) => {
        const at = `${where}.binaries[${j}]`;
        if (name.includes('/')) {
          check.fail(at, `'${name}' is a path: binaries match the process name (comm), so write '${name.slice(name.lastIndexOf('/') + 1)}'`);
        }
        const bytes = Buffer.byteLength(name, 'utf8');
        if (bytes > COMM_MAX_BYTES) {
          check.fail(at, `'${name}' is ${bytes} bytes but the kernel keeps only the first ${COMM_MAX_BYTES} of a process name; write those`);
        }
        binaries.push({ comm: name, action });
      });
    } else {
      check.strings(sel.pathPrefixes, `${where}.pathPrefixes`).forEach((prefix, j) => {
        const at = `${where}.pathPrefixes[${j}]`;
        if (!prefix.startsWith('/')) check.fail(at, `'${prefix}' must be an absolute path`);
        const bytes = Buffer.byteLength(prefix, 'utf8');
        if (bytes > FILTER_ABI.filterPrefixMax) check.fail(at, `is ${bytes} bytes; at most ${FILTER_ABI.filterPrefixMax}`);
        pathPrefixes.push({ prefix, action });
      });
    }
  });
  if (pathPrefixes.length > FILTER_ABI.filterPrefixes) {
    check.fail('spec.selectors', `list ${pathPrefixes.length} path prefixes in all; the kernel filter holds ${FILTER_ABI.filterPrefixes}`);
  }
  const filter: KernelFilter = { binaries, pathPrefixes };
  // The limits are the native layer's; running its validation here keeps the two from drifting apart.
  try {
    resolveKernelFilter(filter);
  } catch (err) {
    check.fail('spec', err instanceof Error ? err.message : String(err));
  }
  return { name: metadata.name, filter };
}
