// The libFuzzer side of the fuzzing: native/fuzz/<name>_fuzz.cc built with clang++ -fsanitize=fuzzer,address,
// undefined (Debian's clang with its libclang-rt-<major>-dev runtime, which set-up installs) into build/fuzz/, and
// run for a number of inputs over the checked-in seed corpus native/fuzz/corpus/<name>/ (which holds the regression
// inputs too). native-fuzz.test.ts runs each target's CI share; `npm run fuzz` runs them longer.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const BUILD_DIR = join(REPO_ROOT, 'build/fuzz');

export interface NativeFuzzTarget {
  readonly name: string;
  /** Inputs in the CI share (native-fuzz.test.ts); `npm run fuzz` multiplies them. */
  readonly runs: number;
  /** The harness and the native/src files it links (no N-API, no libbpf). */
  readonly sources: readonly string[];
  readonly what: string;
}

export const NATIVE_TARGETS: readonly NativeFuzzTarget[] = [
  {
    name: 'record_frame',
    runs: 200_000,
    sources: ['native/fuzz/record_frame_fuzz.cc', 'native/src/record_frame.cc'],
    what: 'ring and perf samples into the record framing, the drain stop rule and the crossing cut',
  },
  {
    name: 'filter_spec',
    runs: 200_000,
    sources: ['native/fuzz/filter_spec_fuzz.cc', 'native/src/filter_spec.cc'],
    what: "setFilter()'s argument into the filter compiler",
  },
];

export const NATIVE_TOTAL_RUNS = NATIVE_TARGETS.reduce((n, t) => n + t.runs, 0);

const FLAGS = [
  '-std=c++17', '-g', '-O1', '-fno-omit-frame-pointer',
  '-fsanitize=fuzzer,address,undefined', '-fno-sanitize-recover=all',
  '-Wall', '-Wextra', '-Werror', '-Wno-missing-field-initializers',
  '-I', join(REPO_ROOT, 'native/src'), '-I', join(REPO_ROOT, 'bpf/include'),
];

function mtime(p: string): number {
  return existsSync(p) ? statSync(p).mtimeMs : -1;
}

function inputsOf(t: NativeFuzzTarget): string[] {
  const headers = readdirSync(join(REPO_ROOT, 'native/src')).filter((f) => f.endsWith('.h')).map((f) => `native/src/${f}`);
  return [...t.sources, ...headers, 'bpf/include/palisade.h'].map((f) => resolve(REPO_ROOT, f));
}

/** Whether clang++ can build a sanitized fuzzer here, and if not why (for `need`: a failure on CI). */
export function nativeFuzzToolchain(): { ok: boolean; why: string } {
  const v = spawnSync('clang++', ['--version'], { encoding: 'utf8' });
  if (v.error || v.status !== 0) return { ok: false, why: 'clang++ is not installed (set-up installs clang)' };
  const major = /clang version (\d+)/.exec(v.stdout)?.[1] ?? '<major>';
  const probe = spawnSync('clang++', ['-print-file-name=libclang_rt.fuzzer-x86_64.a'], { encoding: 'utf8' });
  const lib = probe.stdout.trim();
  if (!lib.startsWith('/') || !existsSync(lib)) {
    return { ok: false, why: `clang ${major}'s libFuzzer/ASan runtime is missing: apt-get install libclang-rt-${major}-dev (set-up does)` };
  }
  return { ok: true, why: '' };
}

/** Builds build/fuzz/<name>_fuzz when missing or older than its sources; returns its path. */
export function buildNativeTarget(t: NativeFuzzTarget): string {
  const bin = join(BUILD_DIR, `${t.name}_fuzz`);
  if (mtime(bin) > Math.max(...inputsOf(t).map(mtime))) return bin;
  mkdirSync(BUILD_DIR, { recursive: true });
  const r = spawnSync('clang++', [...FLAGS, ...t.sources.map((s) => resolve(REPO_ROOT, s)), '-o', bin], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    rmSync(bin, { force: true });
    throw new Error(`building ${t.name}_fuzz failed:\n${r.stderr || String(r.error)}`);
  }
  return bin;
}

export interface NativeFuzzResult {
  readonly target: string;
  /** libFuzzer's own count of inputs executed (seed corpus included). */
  readonly runs: number;
  readonly seconds: number;
  readonly ok: boolean;
  /** The sanitizer or libFuzzer report when not ok, and the input it saved. */
  readonly report?: string;
  readonly artifact?: string;
}

/**
 * Runs one target for `runs` inputs from `seed` over its corpus (default native/fuzz/corpus/<name>/, only read);
 * a crash, leak, sanitizer report, hang or OOM is not ok.
 */
export async function runNativeTarget(
  t: NativeFuzzTarget, opts: { runs: number; seed: number; corpusDir?: string },
): Promise<NativeFuzzResult> {
  const bin = buildNativeTarget(t);
  const work = mkdtempSync(join(tmpdir(), `palisade-fuzz-${t.name}-`));
  const artifacts = join(BUILD_DIR, 'artifacts');
  mkdirSync(artifacts, { recursive: true });
  const started = Date.now();
  try {
    // New inputs go to the first directory (a scratch one); the checked-in corpus is only read.
    const args = [
      work, opts.corpusDir ?? join(REPO_ROOT, 'native/fuzz/corpus', t.name),
      `-runs=${opts.runs}`, `-seed=${opts.seed}`, `-artifact_prefix=${artifacts}/${t.name}-`,
      '-print_final_stats=1', '-timeout=120', '-rss_limit_mb=4096', '-max_len=8192',
    ];
    const env = {
      ...process.env,
      ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=0:allocator_may_return_null=0',
      UBSAN_OPTIONS: 'print_stacktrace=1:halt_on_error=1',
    };
    const { status, output } = await new Promise<{ status: number | null; output: string }>((resolve, reject) => {
      const child = spawn(bin, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
      const chunks: Buffer[] = [];
      child.stdout.on('data', (b: Buffer) => chunks.push(b));
      child.stderr.on('data', (b: Buffer) => chunks.push(b));
      child.on('error', reject);
      child.on('close', (code, signal) => resolve({ status: signal ? 128 : code, output: Buffer.concat(chunks).toString('latin1') }));
    });
    const runs = Number(/stat::number_of_executed_units:\s*(\d+)/.exec(output)?.[1] ?? /Done (\d+) runs/.exec(output)?.[1] ?? 0);
    const reported = /ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|libFuzzer)|runtime error:|SUMMARY: /.test(output);
    const ok = status === 0 && !reported && runs >= opts.runs;
    const artifact = /Test unit written to (\S+)/.exec(output)?.[1];
    const report = ok ? undefined : output.split('\n').filter((l) => !/^#\d+\s+(NEW|REDUCE|pulse)|^\s+NEW_FUNC| # Uses: /.test(l)).slice(-60).join('\n');
    return { target: t.name, runs, seconds: (Date.now() - started) / 1000, ok, report, artifact };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
