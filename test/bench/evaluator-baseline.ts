// The evaluator bench's baseline rule library: the policies/ tree of an older commit, built once with this checkout's
// scripts/build-policies.mjs (--policies/--out) into .cache/bench-baseline/rules-<sha>/, so that the same engine and
// the same build run both libraries and the ratio is the rules' alone. Like baseline.ts, the history comes from git.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../support/service-process.js';

/** The first rule library, PAL-001..006 (merge of pal2, before the attack rules): the 153k decisions/s of issue 9. */
export const RULE_BASELINE_REV = '2f96ae3';

export interface RuleBaseline {
  rev: string;
  sha: string;
  subject: string;
  /** The build's output directory: policy.wasm, metadata.json, data.json. */
  dir: string;
}

function git(args: string[]): { ok: true; out: string } | { ok: false; error: string } {
  const r = spawnSync('git', args, { cwd: REPO_ROOT, encoding: 'utf8' });
  if (r.error !== undefined) return { ok: false, error: `git: ${r.error.message}` };
  if (r.status !== 0) return { ok: false, error: `git ${args.join(' ')}: ${r.stderr.trim()}` };
  return { ok: true, out: r.stdout.trim() };
}

/**
 * Extracts `rev`'s policies/ (once) and builds it (a no-op when its outputs are current). Returns why not, rather
 * than throwing, when the commit is not in this checkout (a shallow clone) or its rules no longer build: the bench
 * then reports the absolute figures alone.
 */
export function prepareRuleBaseline(rev: string, log: (msg: string) => void): RuleBaseline | { rev: string; error: string } {
  const sha = git(['rev-parse', '--verify', `${rev}^{commit}`]);
  if (!sha.ok) return { rev, error: `${rev} is not a commit of this checkout (a shallow clone: git fetch --unshallow): ${sha.error}` };
  const subject = git(['log', '-1', '--format=%s', sha.out]);
  const root = join(REPO_ROOT, '.cache/bench-baseline', `rules-${sha.out.slice(0, 12)}`);
  const policies = join(root, 'policies');
  const dir = join(root, 'build');
  if (!existsSync(join(policies, 'main.rego'))) {
    log(`evaluator: extracting the policies/ of ${sha.out.slice(0, 12)} into ${root}`);
    rmSync(root, { recursive: true, force: true });
    mkdirSync(root, { recursive: true });
    const archive = spawnSync('sh', ['-c', 'git -C "$1" archive "$2" policies | tar -x -C "$3"', 'sh', REPO_ROOT, sha.out, root],
      { encoding: 'utf8' });
    if (archive.status !== 0) return { rev, error: `git archive ${sha.out} policies | tar -x failed: ${archive.stderr.trim()}` };
  }
  const build = spawnSync(process.execPath, [join(REPO_ROOT, 'scripts/build-policies.mjs'), '--quiet', '--policies', policies,
    '--out', dir], { cwd: REPO_ROOT, encoding: 'utf8' });
  if (build.status !== 0) {
    return { rev, error: `today's scripts/build-policies.mjs cannot build the rules of ${sha.out.slice(0, 12)} (exit ${build.status}): ` +
      `${(build.stderr + build.stdout).trim()}` };
  }
  return { rev, sha: sha.out, subject: subject.ok ? subject.out : '', dir };
}
