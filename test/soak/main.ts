#!/usr/bin/env node
// npm run soak -- [--minutes N] [--rate EVENTS_PER_S] [--warmup-s S] [--json]
//
// The pipeline (Kafka + enricher, evaluator, responder as processes) under synthetic raw load for N minutes
// (soak.ts says what is measured). Progress and the table go to stderr; with --json stdout carries exactly one JSON
// object (without the per-sample series unless --samples), as `npm run bench -- --json` does.
import { parseArgs } from 'node:util';
import { describeMachine } from '../bench/machine-info.js';
import { runSoak, type SoakResult } from './soak.js';

const USAGE = `usage: npm run soak -- [--minutes N] [--rate EVENTS_PER_S] [--warmup-s S] [--drain-s S] [--json] [--samples]
  --minutes   how long the load runs (default 10)
  --rate      events offered per second (default 100000)
  --warmup-s  samples before this are left out of the slopes (default: a third of the run, at most 120)
  --drain-s   how long the pipeline may take to catch up after the load (default 120)
  --json      one JSON object on stdout, the table on stderr
  --samples   include every sample in the JSON
Needs java and the Kafka jars (node scripts/setup.mjs).
`;

function log(msg: string): void {
  process.stderr.write(`soak: ${msg}\n`);
}

function renderSoak(r: SoakResult): string {
  const lines = [
    `offered ${r.rate_offered_per_s} ev/s, achieved ${r.rate_achieved_per_s} ev/s for ${r.minutes} min ` +
      `(${r.events_offered} events, ${r.send_failures} records failed to send)`,
    `alerts ${r.alerts_received} of ${r.alerts_expected}; loss ${r.loss ?? `unknown: not drained (${JSON.stringify(r.undrained)})`}` +
      (r.drained_s === null ? '' : `; drained in ${r.drained_s} s`),
    '',
    'process    rss slope    rss after warm-up → last (max)   heap used last (max)   loop p99 median / max   lag max / end / drained',
  ];
  for (const [name, p] of Object.entries(r.processes)) {
    const lag = p.consumer_lag ? `${p.consumer_lag.max} / ${p.consumer_lag.end_of_load} / ${p.consumer_lag.after_drain}` : '—';
    lines.push(`${name.padEnd(10)} ${`${p.rss_slope_mib_per_min} MiB/min`.padEnd(12)} ` +
      `${`${p.rss_mib.after_warmup} → ${p.rss_mib.last} (${p.rss_mib.max}) MiB`.padEnd(32)} ` +
      `${`${p.heap_used_mib.last} (${p.heap_used_mib.max}) MiB`.padEnd(22)} ` +
      `${`${p.loop_lag_ms.p99_median} / ${p.loop_lag_ms.max} ms`.padEnd(23)} ${lag}`);
  }
  return lines.join('\n') + '\n';
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      minutes: { type: 'string', default: '10' }, rate: { type: 'string', default: '100000' },
      'warmup-s': { type: 'string' }, 'drain-s': { type: 'string', default: '120' },
      json: { type: 'boolean', default: false }, samples: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) { process.stdout.write(USAGE); return; }
  const minutes = Number(values.minutes);
  const ratePerS = Number(values.rate);
  const drainS = Number(values['drain-s']);
  const warmupS = values['warmup-s'] === undefined ? Math.min(120, (minutes * 60) / 3) : Number(values['warmup-s']);
  if (![minutes, ratePerS, drainS, warmupS].every((x) => Number.isFinite(x) && x >= 0) || minutes <= 0 || ratePerS <= 0) {
    process.stderr.write(USAGE);
    process.exit(2);
  }
  const result = await runSoak({ minutes, ratePerS, warmupS, sampleMs: 5_000, drainS, log });
  const table = renderSoak(result);
  if (values.json) {
    const out = values.samples ? result : {
      ...result, processes: Object.fromEntries(Object.entries(result.processes).map(([k, { samples: _s, ...p }]) => [k, p])),
    };
    process.stderr.write(table);
    process.stdout.write(JSON.stringify({ machine: describeMachine(), soak: out }) + '\n');
  } else {
    process.stdout.write(table);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`soak: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
