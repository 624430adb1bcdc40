// `palisade probe`: what this kernel supports, as `tetra probe` and `karmor probe` report it. Every line is found by
// trying it (the addon's probe(): a tiny program loaded and attached per hook type, the helpers, the buffer maps)
// and, for the collector's own programs, by checking each one's hook; `--load` also loads and attaches the real
// object, so the verifier's verdict is in too. Prints a table, or one JSON object with --json.
import { ABI, type ConfigSources } from '@palisade/common';
import { BpfSession } from './bpf-session.js';
import { DEFAULT_OBJECT_PATH, probe, type NativeProbe, type NativeProgram, type ProbeResult } from './native.js';
import { toPalisadeError } from './native-errors.js';

export interface ProbeReport {
  readonly kernel: string;
  readonly btf: ProbeResult;
  readonly buffers: NativeProbe['buffers'];
  readonly hooks: NativeProbe['hooks'];
  readonly helpers: NativeProbe['helpers'];
  /** Whether the programs were loaded and attached (--load), or only their hooks checked. */
  readonly loaded: boolean;
  readonly programs: { readonly total: number; readonly available: number };
  /** Per event kind: seen (every program of it available), partial, or not seen; and what is missing. */
  readonly kinds: readonly { readonly kind: string; readonly seen: 'yes' | 'partial' | 'no'; readonly missing: readonly string[] }[];
  readonly enforcement: Readonly<Record<'drop' | 'rate_limit' | 'sigkill' | 'block_syscall', ProbeResult>>;
}

export function probeReport(opts: { objectPath?: string; load?: boolean } = {}): ProbeReport {
  const objectPath = opts.objectPath ?? DEFAULT_OBJECT_PATH;
  const p = probe(objectPath);
  let programs: readonly NativeProgram[] = p.programs ?? [];
  if (opts.load === true) {
    const session = BpfSession.open({ objectPath });
    try {
      programs = session.programs();
    } finally {
      session.close();
    }
  }
  const available = (q: NativeProgram): boolean => (opts.load === true ? q.attached : q.supported);
  const kinds = ABI.kinds.map((k) => {
    // Kill records come from the open programs' Sigkill selectors, not from a program of their own.
    const mine = programs.filter((q) => q.kind === (k.name === 'process_kill' ? 'file_open' : k.name));
    if (k.name === 'process_kill' && !p.helpers.send_signal.ok) {
      return { kind: k.name, seen: 'no' as const, missing: [`bpf_send_signal: ${p.helpers.send_signal.detail}`] };
    }
    if (mine.length === 0) return { kind: k.name, seen: 'no' as const, missing: ['no program hooks it yet'] };
    // A fallback (PAL_UNLESS) that is not needed here is not missing; one that is available stands in for the
    // programs whose hooks this kernel lacks (module loads from raw_syscalls where there are no module syscalls).
    const covered = mine.some((q) => q.unless !== '' && available(q));
    const missing = mine.filter((q) => !available(q) && q.unless === '' && !covered).map((q) => `${q.name} (${q.reason})`);
    const seen: 'yes' | 'partial' | 'no' =
      mine.length === 0 || missing.length === mine.length ? 'no' : missing.length > 0 ? 'partial' : 'yes';
    return { kind: k.name, seen, missing };
  });
  const tp = p.hooks.tracepoint;
  const lsm = p.hooks.lsm;
  const override = p.hooks.kprobe.ok && p.helpers.override_return.ok;
  return {
    kernel: p.kernelRelease,
    btf: p.btf, buffers: p.buffers, hooks: p.hooks, helpers: p.helpers,
    loaded: opts.load === true,
    programs: { total: programs.length, available: programs.filter(available).length },
    kinds,
    enforcement: {
      drop: { ok: tp.ok, detail: tp.ok ? 'in-kernel Drop selectors (BPF maps read by every program)' : tp.detail },
      rate_limit: { ok: tp.ok, detail: tp.ok ? 'Post selectors with rateLimit (per-process token buckets)' : tp.detail },
      sigkill: p.helpers.send_signal.ok
        ? { ok: true, detail: 'Sigkill selectors: bpf_send_signal(SIGKILL) at the syscall entry' }
        : p.helpers.send_signal,
      block_syscall: lsm.ok || override
        ? { ok: true, detail: lsm.ok ? 'BPF-LSM' : 'kprobe + bpf_override_return' }
        : { ok: false, detail: `needs BPF-LSM (${lsm.detail}) or kprobe + override_return (${p.hooks.kprobe.ok ? p.helpers.override_return.detail : p.hooks.kprobe.detail})` },
    },
  };
}

const mark = (r: ProbeResult): string => (r.ok ? 'yes' : 'no ');

export function formatProbe(r: ProbeReport): string {
  const lines: string[] = [];
  const row = (name: string, res: ProbeResult): void => { lines.push(`  ${name.padEnd(18)} ${mark(res)}  ${res.detail}`); };
  lines.push(`kernel ${r.kernel}`);
  row('btf', r.btf);
  lines.push('buffers');
  row('ringbuf', r.buffers.ringbuf);
  row('perfbuf', r.buffers.perfbuf);
  lines.push('hook types');
  for (const [k, v] of Object.entries(r.hooks)) row(k, v);
  lines.push('helpers');
  for (const [k, v] of Object.entries(r.helpers)) row(k, v);
  lines.push(`event kinds (${r.programs.available} of ${r.programs.total} programs ${r.loaded ? 'attached' : 'have their hook; --load runs the verifier too'})`);
  for (const k of r.kinds) {
    lines.push(`  ${k.kind.padEnd(18)} ${k.seen.padEnd(7)}${k.missing.length > 0 ? ` missing: ${k.missing.join('; ')}` : ''}`);
  }
  lines.push('enforcement');
  for (const [k, v] of Object.entries(r.enforcement)) row(k, v);
  return `${lines.join('\n')}\n`;
}

const HELP = `palisade probe [--json] [--load] [--bpf-object <path>]
  What this kernel supports: buffer modes, hook types, helpers, which event kinds the collector will see, which
  enforcement actions work. Needs root (it loads tiny test programs).
  --json          one JSON object instead of the table
  --load          also load and attach the collector's programs (runs the verifier; a few seconds)
  --bpf-object    the compiled BPF object (default: build/bpf/palisade.bpf.o)
`;

export async function runProbe(src: ConfigSources): Promise<void> {
  const argv = src.argv;
  if (argv.includes('--help')) {
    process.stdout.write(HELP);
    return;
  }
  const known = new Set(['--json', '--load', '--bpf-object']);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!known.has(a)) throw new Error(`palisade probe: unknown argument ${JSON.stringify(a)}\n${HELP}`);
    if (a === '--bpf-object') i++;
  }
  const at = argv.indexOf('--bpf-object');
  const objectPath = at >= 0 ? argv[at + 1] : undefined;
  if (at >= 0 && objectPath === undefined) throw new Error('palisade probe: --bpf-object needs a path');
  let report: ProbeReport;
  try {
    report = probeReport({ ...(objectPath !== undefined && { objectPath }), load: argv.includes('--load') });
  } catch (err) {
    throw toPalisadeError(err);
  }
  process.stdout.write(argv.includes('--json') ? `${JSON.stringify(report)}\n` : formatProbe(report));
}
