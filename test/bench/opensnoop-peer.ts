// The peer: libbpf-tools' opensnoop (Debian package libbpf-tools), a per-event tracer that prints a line per open.
// It runs pinned to the collector's CPU with its output to /dev/null, so the comparison is hooks plus transport
// plus a consumer on the other core, like the collector's.
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { HeldProcess } from './held-process.js';

const CANDIDATES = ['/usr/sbin/opensnoop', '/usr/bin/opensnoop', '/usr/sbin/opensnoop.bpf', '/usr/share/libbpf-tools/opensnoop'];

function executable(path: string): boolean {
  try { accessSync(path, constants.X_OK); return true; } catch { return false; }
}

/** Where the package put opensnoop (dpkg -L), or a usual place; throws when it is not installed. */
export function findOpensnoop(): string {
  const listed = spawnSync('dpkg', ['-L', 'libbpf-tools'], { encoding: 'utf8' });
  const fromDpkg = listed.status === 0
    ? listed.stdout.split('\n').filter((p) => /\/opensnoop$/.test(p) && executable(p))
    : [];
  const found = fromDpkg[0] ?? CANDIDATES.find(executable);
  if (found === undefined) throw new Error('opensnoop not found: install libbpf-tools (node scripts/setup.mjs does)');
  return found;
}

/** Starts opensnoop and waits until its hooks are attached (its BPF links stop growing). */
export async function attachOpensnoop(bin: string, cpu: number): Promise<HeldProcess> {
  const p = new HeldProcess('opensnoop', [bin], { cpu, stdout: '/dev/null' });
  // It attaches its programs one by one and prints nothing we can see: ready when it holds links and no new one
  // came for 300 ms.
  let last = -1;
  let since = Date.now();
  try {
    await p.waitUntil('its hooks attached', (h) => {
      const n = h.bpfLinks();
      if (n !== last) { last = n; since = Date.now(); return false; }
      return n > 0 && Date.now() - since >= 300;
    });
  } catch (err) {
    await p.stop();
    throw err;
  }
  return p;
}
