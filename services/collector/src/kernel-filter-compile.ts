// KernelFilter (what a TracingPolicy compiles to) -> NativeFilter (what the addon writes into the pal_filter_* maps),
// checked against the kernel side's limits from the ABI registry. Pure: no addon needed.
import { ABI, PalisadeError } from '@palisade/common';
import type { NativeFilter, NativeKeyed } from './native.js';

const C = ABI.constants;

/** Comm is the kernel's task name: at most 15 bytes (TASK_COMM_LEN - 1). */
export const COMM_MAX_BYTES = C.commLen - 1;

/** An executable path selector: the kernel keeps PAL_PATH_MAX bytes with the NUL. */
export const EXE_PATH_MAX_BYTES = C.pathMax - 1;

/**
 * drop: the events never leave the kernel, counted in `filtered`. sigkill: see setFilter. post: emitted (the
 * default), at most at its rateLimit when it has one (the rest counted in `rate_limited`).
 */
export type FilterAction = 'drop' | 'sigkill' | 'post';

/** A token bucket per (selector, process): `events` back to back, refilled at events/seconds. */
export interface RateLimit {
  readonly events: number;
  readonly seconds: number;
}

/** What a keyed selector may add: a rate limit (post only) and the event kinds it applies to (default: all). */
export interface SelectorOptions {
  readonly rateLimit?: RateLimit;
  /** Event kind ids (palisade.h enum pal_event_kind). sigkill ignores it: it acts at opens. */
  readonly kinds?: readonly number[];
}

/** The whole in-kernel filter; setFilter replaces the previous one. */
export interface KernelFilter {
  /**
   * By task comm (the first 15 bytes of the exec'd file name, or what prctl(PR_SET_NAME) set). TracingPolicy
   * `comms`; the policy's `binaries` are `executables` below.
   */
  readonly binaries: readonly ({ readonly comm: string; readonly action: FilterAction } & SelectorOptions)[];
  /**
   * By the path of open/openat/openat2 as the kernel resolved it (the opened file, walked to the task's root;
   * bpf/README.md "Kernel-resolved paths"); a failed open is matched only when its string as passed is plain. Sigkill
   * also matches the string as passed at sys_enter, before the open runs. Absolute prefixes only.
   */
  readonly pathPrefixes: readonly { readonly prefix: string; readonly action: 'drop' | 'sigkill' }[];
  /** By comm prefix; an exact `binaries` entry for the same task wins over any prefix. TracingPolicy `commPrefixes`. */
  readonly binaryPrefixes?: readonly ({ readonly prefix: string; readonly action: FilterAction } & SelectorOptions)[];
  /**
   * By the process' executable: mm->exe_file's path as the kernel resolved it, to the process' root (what a
   * container sees: /usr/bin/curl, not the overlay's host path). Exact; TracingPolicy `binaries`.
   */
  readonly executables?: readonly ({ readonly path: string; readonly action: FilterAction } & SelectorOptions)[];
  /** By executable path prefix; an exact `executables` entry wins over any prefix. TracingPolicy `binaryPrefixes`. */
  readonly executablePrefixes?: readonly ({ readonly prefix: string; readonly action: FilterAction } & SelectorOptions)[];
  /** By cgroup v2 id: tasks in that cgroup or below it (the deepest listed cgroup wins). */
  readonly cgroups?: readonly ({ readonly id: number; readonly action: 'drop' | 'post' } & SelectorOptions)[];
  /** When set: only tasks in these cgroups (or below) are seen; every other task's events are dropped. */
  readonly onlyCgroups?: readonly number[];
  /** By net_connect destination port. */
  readonly ports?: readonly { readonly port: number; readonly action: 'drop' | 'post'; readonly rateLimit?: RateLimit }[];
  /** The event kinds emitted at all; unset: every kind. Kill records (kind 5) are emitted whatever this says. */
  readonly kinds?: readonly number[];
  /** Emit a process_kill record (kind 5) per kill (the collector always does: see compose.ts). */
  readonly emitKillEvents?: boolean;
}

function invalid(message: string): PalisadeError {
  return new PalisadeError('CONFIG_INVALID', message);
}

const ACTION_BITS: Readonly<Record<FilterAction, number>> = {
  drop: C.actionDrop, sigkill: C.actionSigkill, post: C.actionPost,
};

function actionBits(action: unknown, where: string, allowed: readonly FilterAction[] = ['drop', 'sigkill']): number {
  if (typeof action === 'string' && (allowed as readonly string[]).includes(action)) return ACTION_BITS[action as FilterAction];
  throw invalid(`${where}.action must be ${allowed.map((a) => `'${a}'`).join(' or ')}, got ${JSON.stringify(action)}`);
}

function kindIds(kinds: unknown, where: string): number[] {
  if (kinds === undefined) return [];
  if (!Array.isArray(kinds) || kinds.length === 0) throw invalid(`${where} must be a non-empty array of event kind ids`);
  return [...new Set(kinds.map((k: unknown) => {
    if (typeof k !== 'number' || !Number.isInteger(k) || k < 1 || k >= C.filterKinds) {
      throw invalid(`${where} holds ${JSON.stringify(k)}; event kinds are 1-${C.filterKinds - 1}`);
    }
    return k;
  }))].sort((a, b) => a - b);
}

/** Turns RateLimit objects into rate ids: one id (one bucket per process) per distinct object, i.e. per selector. */
class RateTable {
  readonly rates: { costNs: number; burstNs: number }[] = [];
  private readonly ids = new Map<RateLimit, number>();

  id(limit: RateLimit | undefined, actions: number, where: string): number {
    if (limit === undefined) return 0;
    if (actions !== C.actionPost) throw invalid(`${where}.rateLimit needs action 'post'`);
    const known = this.ids.get(limit);
    if (known !== undefined) return known;
    const { events, seconds } = limit as { events?: unknown; seconds?: unknown };
    if (typeof events !== 'number' || !Number.isInteger(events) || events < 1) {
      throw invalid(`${where}.rateLimit.events must be a positive integer, got ${JSON.stringify(events)}`);
    }
    if (typeof seconds !== 'number' || !(seconds > 0) || seconds > 86_400) {
      throw invalid(`${where}.rateLimit.seconds must be in (0, 86400], got ${JSON.stringify(seconds)}`);
    }
    const costNs = Math.max(1, Math.round((seconds * 1e9) / events));
    if (this.rates.length >= C.filterRates) {
      throw invalid(`more than ${C.filterRates} rate-limited selectors`);
    }
    this.rates.push({ costNs, burstNs: costNs * events });
    this.ids.set(limit, this.rates.length);
    return this.rates.length;
  }
}

/** Merges entries with the same key: actions are a union; a different rate or kinds for one key is an error. */
function mergeKeyed<K>(into: Map<K, NativeKeyed>, key: K, entry: NativeKeyed, where: string): void {
  const old = into.get(key);
  if (old === undefined) {
    into.set(key, entry);
    return;
  }
  if (old.rate !== entry.rate || old.kinds.join() !== entry.kinds.join()) {
    throw invalid(`${where} repeats a key already given with another rateLimit or kinds; the kernel keeps one entry per key`);
  }
  old.actions |= entry.actions;
}

function safeId(v: unknown, where: string, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > max) {
    throw invalid(`${where} must be an integer in [1, ${max}], got ${JSON.stringify(v)}`);
  }
  return v;
}

/**
 * Checks a KernelFilter against the kernel side's limits and turns it into what the addon writes into the maps.
 * The same key given twice gets the union of its actions; path prefixes are all checked by the kernel (the
 * actions of every matching prefix apply), so their order does not matter.
 */
export function resolveKernelFilter(filter: KernelFilter): NativeFilter {
  if (typeof filter !== 'object' || filter === null) throw invalid('filter must be an object');
  if (!Array.isArray(filter.binaries)) throw invalid('filter.binaries must be an array');
  if (!Array.isArray(filter.pathPrefixes)) throw invalid('filter.pathPrefixes must be an array');
  const optionalList = (v: unknown, name: string): readonly unknown[] => {
    if (v === undefined) return [];
    if (!Array.isArray(v)) throw invalid(`filter.${name} must be an array`);
    return v;
  };
  const emit = filter.emitKillEvents ?? false;
  if (typeof emit !== 'boolean') throw invalid('filter.emitKillEvents must be a boolean');
  const rates = new RateTable();
  const keyed = (s: SelectorOptions & { action?: unknown }, where: string, allowed: readonly FilterAction[]): NativeKeyed => {
    const actions = actionBits(s.action, where, allowed);
    return { actions, rate: rates.id(s.rateLimit, actions, where), kinds: kindIds(s.kinds, `${where}.kinds`) };
  };

  const comms = new Map<string, NativeKeyed>();
  filter.binaries.forEach((b, i) => {
    const where = `filter.binaries[${i}]`;
    const comm: unknown = (b as { comm?: unknown } | null)?.comm;
    if (typeof comm !== 'string' || comm === '') throw invalid(`${where}.comm must be a non-empty string`);
    if (comm.includes('\0')) throw invalid(`${where}.comm must not contain NUL`);
    const bytes = Buffer.byteLength(comm, 'utf8');
    if (bytes > COMM_MAX_BYTES) {
      throw invalid(`${where}.comm '${comm}' is ${bytes} bytes; the kernel keeps only ${COMM_MAX_BYTES}: use its first ${COMM_MAX_BYTES}`);
    }
    mergeKeyed(comms, comm, keyed(b, where, ['drop', 'sigkill', 'post']), where);
  });
  if (comms.size > C.filterCommEntries) {
    throw invalid(`filter.binaries has ${comms.size} distinct comms; at most ${C.filterCommEntries}`);
  }
  const binaryPrefixes = optionalList(filter.binaryPrefixes, 'binaryPrefixes');
  if (binaryPrefixes.length > C.filterCommPrefixes) {
    throw invalid(`filter.binaryPrefixes has ${binaryPrefixes.length} entries; at most ${C.filterCommPrefixes}`);
  }
  const commPrefixes = binaryPrefixes.map((raw, i) => {
    const where = `filter.binaryPrefixes[${i}]`;
    const p = raw as { prefix?: unknown; action?: unknown } & SelectorOptions;
    if (typeof p.prefix !== 'string' || p.prefix === '' || p.prefix.includes('\0')) {
      throw invalid(`${where}.prefix must be a non-empty string without NUL`);
    }
    const bytes = Buffer.byteLength(p.prefix, 'utf8');
    if (bytes > COMM_MAX_BYTES) throw invalid(`${where}.prefix is ${bytes} bytes; a comm has at most ${COMM_MAX_BYTES}`);
    return { prefix: p.prefix, ...keyed(p, where, ['drop', 'sigkill', 'post']) };
  });
  const exes = new Map<string, NativeKeyed>();
  optionalList(filter.executables, 'executables').forEach((raw, i) => {
    const where = `filter.executables[${i}]`;
    const e = raw as { path?: unknown; action?: unknown } & SelectorOptions;
    if (typeof e.path !== 'string' || !e.path.startsWith('/') || e.path.includes('\0')) {
      throw invalid(`${where}.path must be an absolute path without NUL, got ${JSON.stringify(e.path)}`);
    }
    const bytes = Buffer.byteLength(e.path, 'utf8');
    if (bytes > EXE_PATH_MAX_BYTES) throw invalid(`${where}.path is ${bytes} bytes; at most ${EXE_PATH_MAX_BYTES}`);
    mergeKeyed(exes, e.path, keyed(e, where, ['drop', 'sigkill', 'post']), where);
  });
  if (exes.size > C.filterExeEntries) {
    throw invalid(`filter.executables has ${exes.size} distinct paths; at most ${C.filterExeEntries}`);
  }
  const exePrefixList = optionalList(filter.executablePrefixes, 'executablePrefixes');
  if (exePrefixList.length > C.filterExePrefixes) {
    throw invalid(`filter.executablePrefixes has ${exePrefixList.length} entries; at most ${C.filterExePrefixes}`);
  }
  const exePrefixes = exePrefixList.map((raw, i) => {
    const where = `filter.executablePrefixes[${i}]`;
    const p = raw as { prefix?: unknown; action?: unknown } & SelectorOptions;
    if (typeof p.prefix !== 'string' || !p.prefix.startsWith('/') || p.prefix.includes('\0')) {
      throw invalid(`${where}.prefix must be an absolute path without NUL, got ${JSON.stringify(p.prefix)}`);
    }
    const bytes = Buffer.byteLength(p.prefix, 'utf8');
    if (bytes > C.filterPrefixMax) throw invalid(`${where}.prefix is ${bytes} bytes; at most ${C.filterPrefixMax}`);
    return { prefix: p.prefix, ...keyed(p, where, ['drop', 'sigkill', 'post']) };
  });
  if (filter.pathPrefixes.length > C.filterPrefixes) {
    throw invalid(`filter.pathPrefixes has ${filter.pathPrefixes.length} entries; at most ${C.filterPrefixes}`);
  }
  const pathPrefixes = filter.pathPrefixes.map((p, i) => {
    const where = `filter.pathPrefixes[${i}]`;
    const prefix: unknown = (p as { prefix?: unknown } | null)?.prefix;
    if (typeof prefix !== 'string' || !prefix.startsWith('/')) {
      throw invalid(`${where}.prefix must be an absolute path, got ${JSON.stringify(prefix)}`);
    }
    if (prefix.includes('\0')) throw invalid(`${where}.prefix must not contain NUL`);
    const bytes = Buffer.byteLength(prefix, 'utf8');
    if (bytes > C.filterPrefixMax) {
      throw invalid(`${where}.prefix is ${bytes} bytes; at most ${C.filterPrefixMax}`);
    }
    return { prefix, actions: actionBits(p.action, where) };
  });

  const cgroups = new Map<number, NativeKeyed>();
  optionalList(filter.cgroups, 'cgroups').forEach((raw, i) => {
    const where = `filter.cgroups[${i}]`;
    const c = raw as { id?: unknown; action?: unknown } & SelectorOptions;
    mergeKeyed(cgroups, safeId(c.id, `${where}.id`), keyed(c, where, ['drop', 'post']), where);
  });
  const only = filter.onlyCgroups;
  if (only !== undefined) {
    if (!Array.isArray(only) || only.length === 0) throw invalid('filter.onlyCgroups must be a non-empty array of cgroup ids');
    only.forEach((id, i) => {
      const key = safeId(id, `filter.onlyCgroups[${i}]`);
      const old = cgroups.get(key);
      if (old !== undefined) old.actions |= C.actionListed;
      else cgroups.set(key, { actions: C.actionListed, rate: 0, kinds: [] });
    });
  }
  if (cgroups.size > C.filterCgroupEntries) {
    throw invalid(`filter.cgroups and onlyCgroups name ${cgroups.size} cgroups; at most ${C.filterCgroupEntries}`);
  }

  const ports = new Map<number, NativeKeyed>();
  optionalList(filter.ports, 'ports').forEach((raw, i) => {
    const where = `filter.ports[${i}]`;
    const p = raw as { port?: unknown; action?: unknown; rateLimit?: RateLimit };
    mergeKeyed(ports, safeId(p.port, `${where}.port`, 65535), keyed({ action: p.action, ...(p.rateLimit && { rateLimit: p.rateLimit }) }, where, ['drop', 'post']), where);
  });
  if (ports.size > C.filterPortEntries) {
    throw invalid(`filter.ports has ${ports.size} distinct ports; at most ${C.filterPortEntries}`);
  }

  let kindsDropped: number[] = [];
  if (filter.kinds !== undefined) {
    const selected = new Set(kindIds(filter.kinds, 'filter.kinds'));
    kindsDropped = Array.from({ length: C.filterKinds - 1 }, (_, i) => i + 1).filter((k) => !selected.has(k));
  }
  return {
    binaries: [...comms].map(([comm, k]) => ({ comm, ...k })),
    binaryPrefixes: commPrefixes,
    exes: [...exes].map(([path, k]) => ({ path, ...k })),
    exePrefixes,
    pathPrefixes,
    cgroups: [...cgroups].map(([id, k]) => ({ id, ...k })),
    cgroupOnly: only !== undefined,
    ports: [...ports].map(([port, k]) => ({ port, ...k })),
    rates: rates.rates,
    kindsDropped,
    flags: emit ? C.filterEmitKillEvents : 0,
  };
}

