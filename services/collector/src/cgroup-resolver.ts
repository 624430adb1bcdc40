// cgroup v2 id -> path below the cgroup2 mount. On cgroup2 the id the kernel reports (bpf_get_current_cgroup_id)
// is the inode number of the cgroup's directory, so a walk that stats every directory builds the whole map.
// A miss triggers a new walk. An id no walk has looked for yet (a pod that just started: its first events are the
// ones an attack needs seen) walks again after only newIdWalkIntervalMs; an id a walk already failed to find (a
// cgroup removed before we looked) waits minWalkIntervalMs, so vanished cgroups cannot make us walk on every event.
//
// A cgroup a walk found keeps its path after it is removed (bounded, oldest first out): the collector reads events
// after the kernel wrote them, and under load well after, so a short-lived pod's last events (the attack a
// throwaway pod was made for) are often read once its directory is gone and another pod's first event has made us
// walk again. Forgetting it then would make those events a host process's. Safe because cgroup ids are never reused
// (on 64-bit kernels the kernfs id is the inode number, allocated increasing).
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const DEFAULT_CGROUP2_ROOT = '/sys/fs/cgroup/unified';

export interface CgroupResolverOptions {
  /** Where cgroup2 is mounted (hybrid hosts: /sys/fs/cgroup/unified; pure v2: /sys/fs/cgroup). */
  root?: string;
  /** Minimum time between two walks triggered by ids a walk already failed to find. */
  minWalkIntervalMs?: number;
  /** Minimum time between two walks triggered by ids never looked for. */
  newIdWalkIntervalMs?: number;
  /** Clock, for tests. */
  now?: () => number;
}

export interface CgroupResolverStats {
  walks: number;
  hits: number;
  misses: number;
  entries: number;
  /** Removed cgroups still remembered by their path. */
  removed: number;
}

const MAX_MISSING = 10_000;
/** Leaf names learned from exec records: bounded like `missing` (oldest first out). */
const MAX_LEAVES = 10_000;
/** Paths of removed cgroups, kept for their late events (oldest first out). */
const MAX_REMOVED = 10_000;

export class CgroupResolver {
  private readonly root: string;
  private readonly minWalkIntervalMs: number;
  private readonly newIdWalkIntervalMs: number;
  /** id -> when a walk last failed to find it. Bounded: cleared when it grows past MAX_MISSING. */
  private readonly missing = new Map<number, number>();
  private readonly now: () => number;
  private byId = new Map<number, string>();
  /**
   * id -> the leaf cgroup name an exec record carried (ProcessExec.cgroup_name, read in the kernel). A short-lived
   * container (a Job, a kubectl run, an attacker's throwaway pod) can be gone before any walk sees its directory;
   * its exec still named the leaf, and the leaf alone names the container (the enricher parses it). Used only
   * when no walk knows the id.
   */
  private readonly leaves = new Map<number, string>();
  /** id -> path of a cgroup an earlier walk found and a later one did not (removed since); see the header. */
  private readonly removed = new Map<number, string>();
  private lastWalk = Number.NEGATIVE_INFINITY;
  private readonly counters = { walks: 0, hits: 0, misses: 0 };

  constructor(opts: CgroupResolverOptions = {}) {
    this.root = opts.root ?? DEFAULT_CGROUP2_ROOT;
    this.minWalkIntervalMs = opts.minWalkIntervalMs ?? 1000;
    this.newIdWalkIntervalMs = opts.newIdWalkIntervalMs ?? 20;
    this.now = opts.now ?? Date.now;
  }

  /**
   * Remembers the leaf cgroup name the kernel gave with an exec in cgroup `id`, for when the directory is removed
   * before a walk finds it. Cheap when the id is already known.
   */
  learnLeaf(id: number, leaf: string): void {
    if (leaf === '' || this.byId.has(id) || this.removed.has(id) || this.leaves.get(id) === leaf) return;
    if (this.leaves.size >= MAX_LEAVES) this.leaves.delete(this.leaves.keys().next().value as number);
    this.leaves.set(id, leaf);
  }

  /**
   * "/a/b" for a cgroup at <root>/a/b, "/" for the root; for a cgroup no walk found but whose exec named its leaf,
   * that leaf name alone ("cri-containerd-<id>.scope", no slash); "" when unknown even after a (permitted) walk.
   */
  resolve(id: number): string {
    const hit = this.byId.get(id) ?? this.removed.get(id);
    if (hit !== undefined) {
      this.counters.hits++;
      return hit;
    }
    this.counters.misses++;
    const interval = this.missing.has(id) ? this.minWalkIntervalMs : this.newIdWalkIntervalMs;
    if (this.now() - this.lastWalk < interval) return this.leaves.get(id) ?? '';
    this.walk();
    const path = this.byId.get(id);
    if (path !== undefined) {
      this.missing.delete(id);
      this.leaves.delete(id);
      return path;
    }
    if (this.missing.size >= MAX_MISSING) this.missing.clear();
    this.missing.set(id, this.now());
    return this.leaves.get(id) ?? '';
  }

  stats(): CgroupResolverStats {
    return { ...this.counters, entries: this.byId.size, removed: this.removed.size };
  }

  /** Rebuilds the map from scratch, so removed cgroups drop out and the cache stays as big as the tree. */
  private walk(): void {
    this.lastWalk = this.now();
    this.counters.walks++;
    const next = new Map<number, string>();
    const stack: Array<{ dir: string; rel: string }> = [{ dir: this.root, rel: '/' }];
    while (stack.length > 0) {
      const { dir, rel } = stack.pop() as { dir: string; rel: string };
      try {
        const id = Number(statSync(dir, { bigint: true }).ino);
        next.set(id, rel);
        // A live directory always wins (ids are not reused on cgroupfs, but a test's tmpfs reuses inode numbers).
        if (this.removed.size > 0) this.removed.delete(id);
        for (const entry of readdirSync(dir, { withFileTypes: true })) {
          if (!entry.isDirectory()) continue;
          stack.push({ dir: join(dir, entry.name), rel: rel === '/' ? `/${entry.name}` : `${rel}/${entry.name}` });
        }
      } catch {
        // A cgroup removed during the walk (ENOENT) or not readable: skip it, the rest of the tree still counts.
      }
    }
    for (const [id, path] of this.byId) {
      if (next.has(id)) continue;
      if (this.removed.size >= MAX_REMOVED) this.removed.delete(this.removed.keys().next().value as number);
      this.removed.set(id, path);
    }
    this.byId = next;
  }
}
