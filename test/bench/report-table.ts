// The human-readable form of a bench result: one section per stage, aligned columns.
import type { BenchResult } from './bench-result.js';
import type { OverheadBenchResult, OverheadMode } from './overhead-bench.js';
import { collectorTargets, overheadTargets, targetCell } from './targets.js';

const int = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
const fix = (n: number, d = 1): string => (Number.isFinite(n) ? n.toFixed(d) : 'n/a');
const pct = (n: number): string => (Number.isFinite(n) ? `${(n * 100).toFixed(2)}%` : 'n/a');

function grid(rows: string[][]): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => { widths[i] = Math.max(widths[i] ?? 0, c.length); });
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd());
}

/** Programs shown per workload: the costliest by total time (the JSON has all of them). */
const BPF_ROWS = 8;

export function renderTable(r: BenchResult): string {
  const out: string[] = [];
  const m = r.machine;
  out.push(`machine: ${m.nproc} CPU × ${m.cpu_model}, ${int(m.memory_mib)} MiB, Linux ${m.kernel}, node ${m.node}`);
  const c = r.collector;
  if (c) {
    const t = collectorTargets(c);
    out.push('', `collector — ${c.path}, in the bench process on CPU ${c.collector_cpu}; openat+close storm on CPU ` +
      `${c.storm_cpu}; ${c.buffer_mode} ${int(c.ring_buffer_bytes / 2 ** 20)} MiB`);
    out.push(...grid([
      ['  offered', `${int(c.offered_per_s)} /s`, '', `${int(c.storm_opens)} opens in ${fix(c.storm_seconds, 2)} s`],
      ['  delivered', `${int(c.delivered_per_s)} /s`, '', `${int(c.delivered)} storm events received and published ` +
        `(${int(c.batches_published)} batches, ${fix(c.bytes_published / 2 ** 20)} MiB, ${int(c.batches_consumed)} consumed)`],
      ['  lost', int(c.lost), targetCell(t.lost), `${pct(c.lost_ratio)} of the storm; kernel loss counters +${int(c.kernel_lost)}` +
        `, decode errors +${int(c.decode_errors)}, backpressure ${int(c.backpressure_dropped)}`],
      ['  cpu per event', `${fix(c.cpu_us_per_event, 2)} µs`, targetCell(t.cpu_us_per_event),
        `${int(c.events_received)} events received in the window; KernelSource alone ` +
        `${fix(c.kernel_source_cpu_us_per_event, 2)} µs (lost ${int(c.kernel_source_lost)})`],
      ['  rss peak', `${fix(c.rss_mib)} MiB`, targetCell(t.rss_mib),
        `bench process (VmHWM during the storm; ${fix(c.rss_start_mib)} MiB at its start)`],
    ]));
    for (const [what, list] of [['storm', c.bpf_ns_per_run?.storm], ['exec', c.bpf_ns_per_run?.exec]] as const) {
      if (list === undefined || list.length === 0) continue;
      out.push(`  bpf ns/run, ${what}: ` + list.slice(0, BPF_ROWS).map((p) => `${p.name} ${int(p.ns_per_run)} (×${int(p.runs)})`).join(', '));
    }
  }
  const o = r.overhead;
  if (o) {
    const t = overheadTargets(o);
    out.push('', `overhead — storm of ${int(o.storm_opens)} openat+close on CPU ${o.storm_cpu}, its wall time with X ` +
      `attached ÷ with nothing; tracers on CPU ${o.tracer_cpu}; ${o.rounds} interleaved rounds, median`);
    const runsOf = (m: OverheadMode): OverheadBenchResult['runs'] => o.runs.filter((x) => x.mode === m);
    const times = (m: OverheadMode): string => runsOf(m).map((x) => fix(x.seconds, 3)).join(' ');
    const onCpu = (m: OverheadMode): string => runsOf(m).map((x) => fix(100 * x.cpu_seconds / x.seconds, 0)).join(' ');
    const steal = (m: OverheadMode): string => runsOf(m).map((x) => fix(x.steal_seconds, 2)).join(' ');
    const cpuRatio = (m: OverheadMode): string => (m === 'bare' ? '1.00' : fix(o.cpu_time_ratios[m], 2));
    const rows: [OverheadMode, string, string, string][] = [
      ['bare', '1.00', '', 'nothing attached'],
      ['empty_hook', fix(o.empty_hook_ratio, 2), '', `${o.empty_hook_sections.length} collector sections, empty programs`],
      ['filtered', fix(o.filtered_ratio, 2), targetCell(t.filtered_ratio), `collector, comm ${o.filtered_comm} dropped in the kernel (${o.filter_via})`],
      ['all_events', fix(o.all_events_ratio, 2), targetCell(t.all_events_ratio), 'collector, every event published; lost ' +
        o.runs.filter((x) => x.mode === 'all_events').map((x) => int(x.lost ?? Number.NaN)).join('/')],
      ['opensnoop', fix(o.opensnoop_ratio, 2), '', `${o.opensnoop_path} > /dev/null`],
    ];
    out.push(...grid([
      ['  mode', 'ratio', 'median s', 'runs s', 'on-CPU %', 'steal s', 'cpu ratio', 'target', 'what'],
      ...rows.map(([m, ratio, target, what]) =>
        [`  ${m}`, ratio, fix(o.median_seconds[m], 3), times(m), onCpu(m), steal(m), cpuRatio(m), target || '-', what]),
    ]));
    out.push('  ratio: storm wall time; cpu ratio: the storm\'s own CPU time (blind to steal and interrupts); ' +
      `on-CPU %: CPU ÷ wall; steal s: the storm CPU's steal; load average ${fix(o.load_average[0], 2)} before, ` +
      `${fix(o.load_average[1], 2)} after`);
    if (o.leftover_programs.length > 0) out.push(`  BPF programs left loaded: ${o.leftover_programs.join('; ')}`);
  }
  const e = r.evaluator;
  if (e) {
    out.push('', `evaluator — PolicyEngine, rules ${e.rules.join(' ')}, ${int(e.events)} events in batches of ${e.batch_size}`);
    out.push(...grid([
      ['  decisions', `${int(e.decisions_per_s)} /s`, `${int(e.events_to_opa)} to OPA, ${int(e.events_skipped)} skipped by kind, ` +
        `${fix(e.seconds, 2)} s in evaluate() (${int(e.decisions_per_cpu_s)} /s of CPU), dispatch by ${e.dispatch}, ` +
        `${int(e.evaluations)} wasm calls`],
      ...(e.single ? [['  main only', `${int(e.single.decisions_per_s)} /s`, `(${int(e.single.decisions_per_cpu_s)} /s of CPU) ` +
        'the same rules through palisade/main/alerts alone, ' +
        `${int(e.single.evaluations)} wasm calls, p50 ${fix(e.single.batch_ms.p50, 2)} ms: dispatch by kind is ` +
        `${fix(e.dispatch_speedup ?? Number.NaN, 2)}× it`]] : []),
      ...(e.baseline ? [('error' in e.baseline
        ? ['  first rules', '-', `not measured: ${e.baseline.error.split('\n')[0]}`]
        : ['  first rules', `${int(e.baseline.decisions_per_s)} /s`, `(${int(e.baseline.decisions_per_cpu_s)} /s of CPU) ` +
          `${e.baseline.rules.join(' ')} (${e.baseline.sha.slice(0, 7)}), ` +
          `p50 ${fix(e.baseline.batch_ms.p50, 2)} ms: ${fix(e.baseline.ratio, 2)}× the shipped rules' rate ` +
          `(${fix(e.baseline.cpu_ratio, 2)}× by CPU)`])] : []),
      ['  batch time', `p50 ${fix(e.batch_ms.p50, 2)} ms`, `p99 ${fix(e.batch_ms.p99, 2)} ms, max ${fix(e.batch_ms.max, 2)} ms`],
      ['  alerts', int(e.alerts), Object.entries(e.alerts_by_rule).map(([k, v]) => `${k} ${int(v)}`).join(', ')],
    ]));
  }
  const p = r.pipeline;
  if (p) {
    out.push('', 'pipeline — Kafka 3.9.1 on loopback + collector, enricher, evaluator, responder as processes; ' +
      `events_per_s ${int(p.events_per_s)} /s, latency p50 ${fix(p.latency_ms.p50)} ms, p99 ${fix(p.latency_ms.p99)} ms`);
    out.push(...grid([
      ['  phase', 'offered/s', 'carried/s', 'alerts', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'coll. lost',
        'cpu s (coll/enr/eval/resp)'],
      ...p.phases.map((ph) => [
        `  ${ph.name}`, int(ph.offered_per_s), int(ph.carried_per_s), `${int(ph.alerts_received)}/${int(ph.alerts_expected)}`,
        fix(ph.latency_ms.p50), fix(ph.latency_ms.p90), fix(ph.latency_ms.p99), fix(ph.latency_ms.max),
        int(ph.collector_lost),
        [ph.cpu_s.collector, ph.cpu_s.enricher, ph.cpu_s.evaluator, ph.cpu_s.responder].map((x) => fix(x)).join('/'),
      ]),
    ]));
    for (const ph of p.phases) {
      const reasons = Object.entries(ph.collector_lost_by_reason);
      if (reasons.length > 0) out.push(`  ${ph.name} collector drops: ${reasons.map(([k, v]) => `${k} ${int(v)}`).join(', ')}`);
    }
    out.push(`  rss MiB: ${Object.entries(p.rss_mib).map(([k, v]) => `${k} ${fix(v)}`).join(', ')}; ` +
      `start-up: Kafka ${fix(p.kafka_start_s)} s, services ${fix(p.services_start_s)} s, first alert ${fix(p.first_alert_s)} s`);
  }
  const b = r.baseline;
  if (b) {
    out.push('', `before/after — baseline ${b.sha.slice(0, 12)} "${b.subject}" (run first, same machine, same run) ` +
      'against this checkout');
    const rows: string[][] = [['  measure', 'before', 'after', 'after ÷ before']];
    const pair = (what: string, before: number | undefined, after: number | undefined, d = 2): void => {
      if (before === undefined && after === undefined) return;
      const ratio = before !== undefined && after !== undefined && before !== 0 ? fix(after / before, 2) : 'n/a';
      rows.push([`  ${what}`, fix(before ?? Number.NaN, d), fix(after ?? Number.NaN, d), ratio]);
    };
    pair('collector cpu µs/event', b.collector?.cpu_us_per_event, r.collector?.cpu_us_per_event);
    pair('KernelSource cpu µs/event', b.collector?.kernel_source_cpu_us_per_event, r.collector?.kernel_source_cpu_us_per_event);
    pair('collector delivered /s', b.collector?.delivered_per_s, r.collector?.delivered_per_s, 0);
    pair('collector lost', b.collector?.lost, r.collector?.lost, 0);
    // Per program: the kernel's own CPU ns per run, the load-robust before/after of the in-kernel cost.
    for (const what of ['storm', 'exec'] as const) {
      const before = new Map((b.collector?.bpf_ns_per_run?.[what] ?? []).map((p) => [p.name, p.ns_per_run]));
      for (const p of (r.collector?.bpf_ns_per_run?.[what] ?? []).slice(0, BPF_ROWS)) {
        pair(`bpf ns/run ${what} ${p.name}`, before.get(p.name), p.ns_per_run, 0);
      }
    }
    pair('overhead empty_hook', b.overhead?.empty_hook_ratio, r.overhead?.empty_hook_ratio);
    pair('overhead filtered', b.overhead?.filtered_ratio, r.overhead?.filtered_ratio);
    pair('overhead all_events', b.overhead?.all_events_ratio, r.overhead?.all_events_ratio);
    pair('overhead opensnoop (drift check)', b.overhead?.opensnoop_ratio, r.overhead?.opensnoop_ratio);
    out.push(...grid(rows));
  }
  out.push('', `total ${fix(r.total_seconds)} s`);
  return out.join('\n') + '\n';
}
