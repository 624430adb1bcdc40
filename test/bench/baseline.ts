// `npm run bench -- --baseline <rev>`: the same measurements of an older commit, in the same run, so a change's cost
// is a before/after pair from one machine and one hour rather than two READMEs (issue 8, item 4).
//
// The older commit is built once into .cache/bench-baseline/<sha> (git archive of the commit, a copy of this
// checkout's node_modules, then its own setup steps: proto, native, abi, build), and its bench runs as a child
// process with --json --only <the kernel stages asked for>. Each side's ratios are to its own bare runs, so a drift
// of the machine between the two halves moves both numerator and denominator of each ratio alike.
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../support/service-process.js';
import type { BenchResult } from './bench-result.js';
import type { Teardown } from './teardown.js';

/** The commit before issue 8's signals (kernel-resolved paths onwards): what `--baseline issue-8` names. */
export const BASELINE_ALIASES: Readonly<Record<string, string>> = { 'issue-8': '70f6125' };

/** Setup steps the baseline needs for the collector and overhead stages (no OPA, Kafka or qemu kernels). */
const BASELINE_STEPS = 'proto,native,abi,build';

export interface BaselineResult {
  rev: string;
  sha: string;
  subject: string;
  collector?: BenchResult['collector'];
  overhead?: BenchResult['overhead'];
}

function git(args: string[]): string {
  const r = spawnSync('git', args, { cwd: REPO_ROOT, encoding: 'utf8' });
  if (r.error !== undefined) throw new Error(`git: ${r.error.message} (the baseline is read from this checkout's history)`);
  if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr.trim()}`);
  return r.stdout.trim();
}

/** Builds `rev` into its cache directory unless it is there already; returns the directory. */
export function prepareBaseline(rev: string, log: (msg: string) => void): { dir: string; sha: string; subject: string } {
  const name = BASELINE_ALIASES[rev] ?? rev;
  let sha: string;
  try {
    sha = git(['rev-parse', '--verify', `${name}^{commit}`]);
  } catch (err) {
    throw new Error(`--baseline ${rev}: not a commit of this checkout (a shallow clone lacks history: ` +
      `git fetch --unshallow): ${(err as Error).message}`);
  }
  const subject = git(['log', '-1', '--format=%s', sha]);
  const dir = join(REPO_ROOT, '.cache/bench-baseline', sha.slice(0, 12));
  const ready = join(dir, '.bench-ready');
  if (existsSync(ready)) {
    log(`baseline ${sha.slice(0, 12)} (${subject}) already built in ${dir}`);
    overlayInstrument(dir);
    return { dir, sha, subject };
  }
  log(`baseline: building ${sha.slice(0, 12)} (${subject}) in ${dir} (once; about two minutes)`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const archive = spawnSync('sh', ['-c', `git -C "$1" archive "$2" | tar -x -C "$3"`, 'sh', REPO_ROOT, sha, dir],
    { stdio: ['ignore', 'inherit', 'inherit'] });
  if (archive.status !== 0) throw new Error(`git archive ${sha} | tar -x failed (exit ${archive.status})`);
  // Relative symlinks (the npm workspaces' node_modules/@palisade/* -> ../../services/*) are copied as links, so they
  // point into the baseline's own services.
  cpSync(join(REPO_ROOT, 'node_modules'), join(dir, 'node_modules'), { recursive: true, verbatimSymlinks: true });
  overlayInstrument(dir, false);
  const setup = spawnSync(process.execPath, ['scripts/setup.mjs', '--quiet', '--only', BASELINE_STEPS],
    { cwd: dir, stdio: ['ignore', 'inherit', 'inherit'] });
  if (setup.status !== 0) throw new Error(`baseline ${sha.slice(0, 12)}: setup --only ${BASELINE_STEPS} failed (exit ${setup.status})`);
  writeFileSync(ready, `${new Date().toISOString()}\n`);
  return { dir, sha, subject };
}

/**
 * The bench itself is the instrument, not the thing measured: this checkout's test/bench/ replaces the baseline's,
 * so a fix to how something is measured (a hook this kernel lacks, a counter read) applies to both sides alike. The
 * collector, BPF and addon measured stay the baseline's.
 */
function overlayInstrument(dir: string, rebuild = true): void {
  cpSync(join(REPO_ROOT, 'test/bench'), join(dir, 'test/bench'), {
    recursive: true, filter: (src) => !src.includes(`${join('test', 'bench')}/dist`),
  });
  if (!rebuild) return;
  const r = spawnSync(process.execPath, ['scripts/setup.mjs', '--quiet', '--only', 'build'], { cwd: dir, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new Error(`baseline: rebuilding its bench with this checkout's test/bench failed (exit ${r.status})`);
}

/** Runs the baseline's own bench for these stages and returns its JSON result. */
export async function runBaseline(
  rev: string, stages: readonly ('collector' | 'overhead')[], log: (msg: string) => void, teardown: Teardown,
): Promise<BaselineResult> {
  const { dir, sha, subject } = prepareBaseline(rev, log);
  log(`baseline ${sha.slice(0, 12)}: ${stages.join(', ')}`);
  const child = spawn(process.execPath, ['test/dist/bench/main.js', '--json', '--only', stages.join(',')],
    { cwd: dir, stdio: ['ignore', 'pipe', 'inherit'] });
  const stop = teardown.add(`baseline bench ${sha.slice(0, 12)}`, async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (c) => resolve(c));
  });
  await stop();
  if (code !== 0) throw new Error(`baseline ${sha.slice(0, 12)} bench exited ${code}`);
  let parsed: BenchResult;
  try {
    parsed = JSON.parse(out) as BenchResult;
  } catch {
    throw new Error(`baseline ${sha.slice(0, 12)} bench printed no JSON result: ${out.slice(0, 200)}`);
  }
  return {
    rev, sha, subject,
    ...(parsed.collector !== undefined && { collector: parsed.collector }),
    ...(parsed.overhead !== undefined && { overhead: parsed.overhead }),
  };
}
