// cgroup v2 id -> path below the cgroup2 mount. On cgroup2 the id the kernel reports (bpf_get_current_cgroup_id)
// is the inode number of the cgroup's directory, so a walk that stats every directory builds the whole map.
// A miss triggers a new walk, at most once per minWalkIntervalMs: misses come in bursts (a new pod starts many
// processes) and one walk answers all of them.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const DEFAULT_CGROUP2_ROOT = '/sys/fs/cgroup/unified';

export interface CgroupResolverOptions {
  /** Where cgroup2 is mounted (hybrid hosts: /sys/fs/cgroup/unified; pure v2: /sys/fs/cgroup). */
  root?: string;
  /** Minimum time between two walks triggered by misses. */
  minWalkIntervalMs?: number;
  /** Clock, for tests. */
  now?: () => number;
}

export interface CgroupResolverStats {
  walks: number;
  hits: number;
  misses: number;
  entries: number;
}

export class CgroupResolver {
  private readonly root: string;
  private readonly minWalkIntervalMs: number;
  private readonly now: () => number;
  private byId = new Map<number, string>();
  private lastWalk = Number.NEGATIVE_INFINITY;
  private readonly counters = { walks: 0, hits: 0, misses: 0 };

  constructor(opts: CgroupResolverOptions = {}) {
    this.root = opts.root ?? DEFAULT_CGROUP2_ROOT;
    this.minWalkIntervalMs = opts.minWalkIntervalMs ?? 1000;
    this.now = opts.now ?? Date.now;
  }

  /** "/a/b" for a cgroup at <root>/a/b, "/" for the root, "" when unknown even after a (permitted) walk. */
  resolve(id: number): string {
    const hit = this.byId.get(id);
    if (hit !== undefined) {
      this.counters.hits++;
      return hit;
    }
    this.counters.misses++;
    if (this.now() - this.lastWalk < this.minWalkIntervalMs) return '';
    this.walk();
    return this.byId.get(id) ?? '';
  }

  stats(): CgroupResolverStats {
    return { ...this.counters, entries: this.byId.size };
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
        next.set(Number(statSync(dir, { bigint: true }).ino), rel);
        for (const entry of readdirSync(dir, { withFileTypes: true })) {
          if (!entry.isDirectory()) continue;
          stack.push({ dir: join(dir, entry.name), rel: rel === '/' ? `/${entry.name}` : `${rel}/${entry.name}` });
        }
      } catch {
        // A cgroup removed during the walk (ENOENT) or not readable: skip it, the rest of the tree still counts.
      }
    }
    this.byId = next;
  }
}
