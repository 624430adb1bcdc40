// The bench's result: the shape `npm run bench -- --json` prints, and the table is rendered from.
import type { BaselineResult } from './baseline.js';
import type { CollectorBenchResult } from './collector-bench.js';
import type { EvaluatorBenchResult } from './evaluator-bench.js';
import type { MachineInfo } from './machine-info.js';
import type { OverheadBenchResult } from './overhead-bench.js';
import type { PipelineBenchResult } from './pipeline-bench.js';

export interface BenchResult {
  machine: MachineInfo;
  /** Absent when left out with --only. */
  collector?: CollectorBenchResult;
  overhead?: OverheadBenchResult;
  evaluator?: EvaluatorBenchResult;
  pipeline?: PipelineBenchResult;
  /** --baseline: the collector and overhead stages of an older commit, run first in the same bench run. */
  baseline?: BaselineResult;
  total_seconds: number;
}

/** One line of JSON; fractions rounded to 3 decimals (no measurement here is better than that), NaN as null. */
export function toJson(r: BenchResult): string {
  return JSON.stringify(r, (_key, v: unknown) =>
    typeof v === 'number' && !Number.isInteger(v) ? (Number.isFinite(v) ? Math.round(v * 1000) / 1000 : null) : v);
}
