// The drills' event source: run inside a pod cgroup, it opens `<prefix><i>` for i in [0, count), one every
// intervalMs, and prints the wall-clock time of each open as one JSON array on stdout. The paths are under
// /etc/sudoers.d/, so every open fires PAL-001 (whether or not the file exists), and the path names the event: an
// alert is matched to the open that caused it by its path alone.
//
//   node open-paths.js <prefix> <count> <intervalMs>
import { closeSync, openSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

const [prefix = '/etc/sudoers.d/drill-', countText = '10', intervalText = '10'] = process.argv.slice(2);
const count = Number(countText);
const intervalMs = Number(intervalText);
const times: number[] = [];
const started = Date.now();
for (let i = 0; i < count; i++) {
  try {
    closeSync(openSync(`${prefix}${i}`, 'r'));
  } catch {
    // ENOENT is expected: the open is what the kernel reports, not its result.
  }
  times.push(Date.now());
  // Paced against the start, not the previous open, so a slow moment does not stretch the whole stream.
  const next = started + (i + 1) * intervalMs;
  const wait = next - Date.now();
  if (wait > 0) await sleep(wait);
}
process.stdout.write(JSON.stringify(times) + '\n');
