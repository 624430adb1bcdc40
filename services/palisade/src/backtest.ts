// `palisade policy backtest`: runs a candidate rule set over the events palisade.events.enriched still holds, next to
// the current rules, and reports per rule how often each would fire, on which workloads, and what changes. It reads
// as a consumer group of its own (one per run, deleted at the end), from the offsets at --since to the offsets at
// --until or the high watermarks read at its start, so it ends and never competes with the evaluator's group. Its
// alerts go to a shadow topic or a JSONL file, never to palisade.alerts: the responder never sees them.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, type WriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kafka, logLevel, type Admin, type Consumer, type EachBatchPayload, type Producer } from 'kafkajs';
import {
  BACKTEST_DEFAULTS, LOG_LEVELS, PalisadeError, TOPICS, bool, createLogger, describeConfig, errorMessage, int, kafkaError,
  kafkaLogCreator, kafkaSecurityKeys, list, loadConfig, oneOf, pb, resolveKafkaSecurity, str,
  type ConfigSources, type Logger, type palisade,
} from '@palisade/common';
import { BundleError, DEFAULT_POLICY_DIR, PolicyEngine, parseBundle, readBundleDir, readTarGz, type Bundle } from '@palisade/evaluator';
import { alertToJson } from './alert-json.js';
import { BacktestReportBuilder, type RuleInfo, type RuleReport, rulesTable } from './backtest-report.js';

export const backtestSchema = {
  kafka: list('Kafka bootstrap brokers; required: the backtest replays the retained enriched topic (the embedded ' +
    'in-process bus keeps none)', 'PALISADE_KAFKA_BROKERS', []),
  ...kafkaSecurityKeys,
  logLevel: oneOf('Minimum log level (progress is logged at info)', 'PALISADE_LOG_LEVEL', 'info', LOG_LEVELS),
  policy: str('The candidate rules: a folder of Rego sources (built with scripts/build-policies.mjs), a built ' +
    'folder (policy.wasm + metadata.json), an OPA bundle folder (.manifest + policy.wasm) or a bundle.tar.gz',
    'PALISADE_BACKTEST_POLICY', ''),
  current: str('The rules to compare with, in the same forms; empty: build/policies of this installation (what the ' +
    'evaluator runs by default)', 'PALISADE_BACKTEST_CURRENT', ''),
  since: str('Where to start: a duration before now (30m, 6h, 2d) or a time (ISO 8601)', 'PALISADE_BACKTEST_SINCE', ''),
  until: str('Where to stop: a duration before now or a time; empty: the end of the topic when the run starts',
    'PALISADE_BACKTEST_UNTIL', ''),
  out: str('Write the candidate\'s alerts to this file, one JSON object per line (then no shadow topic unless ' +
    '--shadow-topic is given too)', 'PALISADE_BACKTEST_OUT', ''),
  shadowTopic: str(`Topic for the candidate's alerts (never a pipeline topic); empty: ${BACKTEST_DEFAULTS.shadowTopic} ` +
    'unless --out is given', 'PALISADE_BACKTEST_SHADOW_TOPIC', ''),
  json: bool('Print the report as one JSON object instead of a table', 'PALISADE_BACKTEST_JSON', false),
  top: int('Workloads listed per rule', 'PALISADE_BACKTEST_TOP', 5, 1, 1000),
  groupPrefix: str('Prefix of the run\'s consumer group (<prefix><time>-<random>; the ACL plan grants it)',
    'PALISADE_BACKTEST_GROUP_PREFIX', BACKTEST_DEFAULTS.groupPrefix),
  progressIntervalMs: int('How often progress is logged on stderr', 'PALISADE_BACKTEST_PROGRESS_MS', 2_000, 100),
};

/** build-policies.mjs of this installation (services/palisade/dist/ -> repo root). */
const BUILD_POLICIES = fileURLToPath(new URL('../../../scripts/build-policies.mjs', import.meta.url));

const DURATION_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** "6h" (before now), or an ISO 8601 time, as ms since the epoch. */
export function parseTimeArg(flag: string, raw: string, nowMs: number): number {
  const d = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/.exec(raw.trim());
  if (d) return nowMs - Number(d[1]) * DURATION_MS[d[2]!]!;
  const t = /^\d{4}-\d{2}-\d{2}/.test(raw.trim()) ? Date.parse(raw) : NaN;
  if (Number.isFinite(t)) return t;
  throw new PalisadeError('CONFIG_INVALID', `${flag} ${JSON.stringify(raw)}: give a duration before now (30m, 6h, 2d) ` +
    'or an ISO 8601 time (2026-12-01T08:00:00Z)');
}

const PIPELINE_TOPICS: ReadonlySet<string> = new Set(Object.values(TOPICS));

/** The forms a rule set is given in: how loadRules read it, and what the report calls it. */
export type RulesForm = 'rego' | 'built' | 'bundle-dir' | 'bundle';

const FORM_TEXT: Readonly<Record<RulesForm, string>> = {
  rego: 'Rego folder', built: 'built folder', 'bundle-dir': 'bundle folder', bundle: 'bundle',
};

export interface LoadedRules {
  /** What the user named. */
  source: string;
  form: RulesForm;
  /** ms the Rego build took; undefined unless form is rego. */
  buildMs?: number;
  /** The bundle's manifest revision, for a bundle or bundle folder ("" when it has none). */
  revision?: string;
  engine: PolicyEngine;
  cleanup(): void;
}

function hasRego(dir: string, depth = 0): boolean {
  if (depth > 8) return false;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isFile() && e.name.endsWith('.rego')) return true;
    if (e.isDirectory() && hasRego(join(dir, e.name), depth + 1)) return true;
  }
  return false;
}

const FORMS_HELP = 'give a folder of Rego sources, a built folder (policy.wasm + metadata.json), an OPA bundle folder ' +
  '(.manifest + policy.wasm) or a bundle.tar.gz, as scripts/build-policies.mjs makes them';

/** An OPA bundle (a bundle.tar.gz, or its files in a folder) as the evaluator's --policy-bundle reads it. */
async function loadBundle(path: string, source: string, what: string, form: 'bundle' | 'bundle-dir'): Promise<LoadedRules> {
  let bundle: Bundle;
  try {
    const files = form === 'bundle-dir' ? await readBundleDir(path) : readTarGz(readFileSync(path));
    bundle = parseBundle(files);
  } catch (err) {
    const reason = err instanceof BundleError ? ` (${err.reason})` : '';
    throw new PalisadeError('POLICY_LOAD_FAILED', `${what} ${JSON.stringify(source)} is not a usable OPA bundle${reason}: ` +
      `${errorMessage(err)}; ${FORMS_HELP}`, { cause: err });
  }
  let engine: PolicyEngine;
  try {
    engine = await PolicyEngine.create({ wasm: bundle.wasm, rules: bundle.rules, data: bundle.data,
      where: `${what} ${source}` });
  } catch (err) {
    throw new PalisadeError('POLICY_LOAD_FAILED', `${what} ${JSON.stringify(source)}: the bundle's policy does not load: ` +
      `${errorMessage(err)}`, { cause: err });
  }
  return { source: path, form, revision: bundle.revision, engine, cleanup: () => undefined };
}

/**
 * Loads a rule set: a bundle.tar.gz or a bundle folder (a .manifest beside the wasm) as the evaluator reads bundles,
 * a built folder as it is, a folder of Rego sources after building it into a temp folder.
 */
export async function loadRules(source: string, what: string, logger: Logger): Promise<LoadedRules> {
  const path = resolve(source);
  if (!existsSync(path)) throw new PalisadeError('CONFIG_INVALID', `${what} ${JSON.stringify(source)} does not exist`);
  if (!statSync(path).isDirectory()) return loadBundle(path, source, what, 'bundle');
  const hasWasm = existsSync(join(path, 'policy.wasm'));
  if (hasWasm && existsSync(join(path, '.manifest'))) return loadBundle(path, source, what, 'bundle-dir');
  let dir = path;
  let buildMs: number | undefined;
  let cleanup = (): void => undefined;
  if (!(hasWasm && existsSync(join(path, 'metadata.json')))) {
    if (!hasRego(path)) {
      throw new PalisadeError('CONFIG_INVALID', `${what} ${JSON.stringify(source)} holds neither policy.wasm (with ` +
        `metadata.json or a .manifest) nor .rego files: ${FORMS_HELP}`);
    }
    const out = mkdtempSync(join(tmpdir(), 'palisade-backtest-policy-'));
    cleanup = () => rmSync(out, { recursive: true, force: true });
    const t0 = Date.now();
    const r = spawnSync(process.execPath, [BUILD_POLICIES, '--policies', path, '--out', out, '--force', '--quiet'],
      { encoding: 'utf8', maxBuffer: 16 << 20 });
    buildMs = Date.now() - t0;
    if (r.status !== 0) {
      cleanup();
      throw new PalisadeError('POLICY_LOAD_FAILED', `${what}: building ${source} failed (exit ${String(r.status)}):\n` +
        `${(r.stderr || r.error?.message || '').trim()}`);
    }
    dir = out;
    logger.info('rules built', { what, source: path, buildMs });
  }
  try {
    const engine = await PolicyEngine.load({ wasmPath: join(dir, 'policy.wasm'), metadataPath: join(dir, 'metadata.json') });
    return { source: path, form: buildMs !== undefined ? 'rego' : 'built', ...(buildMs !== undefined && { buildMs }), engine, cleanup };
  } catch (err) {
    cleanup();
    throw err;
  }
}

function ruleInfos(engine: PolicyEngine): RuleInfo[] {
  return [...engine.rules.values()].map((r) => ({ id: r.id, title: r.title, severity: r.severity }));
}

/** One side of the comparison: where its rules came from, in which form, how many. */
export interface RulesSummary {
  source: string;
  form: RulesForm;
  rules: number;
  /** ms the Rego build took; null unless form is rego. */
  buildMs: number | null;
  /** The bundle's manifest revision; null unless it is a bundle or bundle folder. */
  revision: string | null;
}

function summary(r: LoadedRules): RulesSummary {
  return { source: r.source, form: r.form, rules: r.engine.rules.size, buildMs: r.buildMs ?? null, revision: r.revision ?? null };
}

export interface PartitionRange { partition: number; start: number; end: number }

export interface BacktestReport {
  group: string;
  topic: string;
  since: string;
  until: string;
  /** The topic's retention.ms as the broker reports it; null when it could not be read. */
  retentionMs: number | null;
  candidate: RulesSummary;
  current: RulesSummary;
  partitions: PartitionRange[];
  /** Records evaluated: in the partition ranges, with a timestamp in [since, until). */
  records: number;
  /** Records in the ranges whose timestamp is outside [since, until) (timestamps are the producer's, not in order). */
  outsideTime: number;
  events: number;
  /** Records that are no EnrichedEventBatch (the evaluator would dead-letter them). */
  undecodable: number;
  /** Records a rule set failed to evaluate (left out of both sides of the diff). */
  evaluationFailed: number;
  /** Broker timestamps of the first and last record read, ISO 8601; null when none. */
  firstRecordAt: string | null;
  lastRecordAt: string | null;
  durationMs: number;
  alertsWritten: { topic: string | null; file: string | null; count: number };
  rules: RuleReport[];
}

interface Io { stdout(text: string): void }

/** The range each partition is read over: [offset at --since, high watermark at the start). */
export function partitionRanges(starts: readonly { partition: number; offset: string }[],
  ends: readonly { partition: number; offset: string }[]): PartitionRange[] {
  const endOf = new Map(ends.map((e) => [e.partition, Number(e.offset)]));
  return starts.map((s) => ({ partition: s.partition, start: Number(s.offset), end: endOf.get(s.partition) ?? Number(s.offset) }))
    .map((r) => ({ ...r, end: Math.max(r.start, r.end) }))
    .sort((a, b) => a.partition - b.partition);
}

export async function runBacktest(src: ConfigSources, io: Io = { stdout: (t) => { process.stdout.write(t); } }): Promise<void> {
  if (src.argv.includes('--help')) {
    io.stdout(`palisade policy backtest --policy <dir|bundle.tar.gz> --since <6h|time> [flags]\n${describeConfig(backtestSchema)}\n`);
    return;
  }
  const cfg = loadConfig(backtestSchema, src);
  if (cfg.kafka.length === 0) {
    throw new PalisadeError('CONFIG_INVALID', 'palisade policy backtest needs Kafka (--kafka or PALISADE_KAFKA_BROKERS): it ' +
      `replays the events ${TOPICS.enriched} retains, and the embedded in-process bus keeps no events once they are evaluated`);
  }
  if (cfg.policy === '') throw new PalisadeError('CONFIG_INVALID', '--policy is required: the candidate rules (Rego folder, built folder, bundle folder or bundle.tar.gz)');
  if (cfg.since === '') throw new PalisadeError('CONFIG_INVALID', '--since is required: how far back to start (e.g. 6h)');
  const startedAt = Date.now();
  const sinceMs = parseTimeArg('--since', cfg.since, startedAt);
  const untilMs = cfg.until === '' ? undefined : parseTimeArg('--until', cfg.until, startedAt);
  if (untilMs !== undefined && untilMs <= sinceMs) throw new PalisadeError('CONFIG_INVALID', '--until must be after --since');
  const shadowTopic = cfg.shadowTopic !== '' ? cfg.shadowTopic : cfg.out === '' ? BACKTEST_DEFAULTS.shadowTopic : '';
  if (PIPELINE_TOPICS.has(shadowTopic) || shadowTopic.startsWith('palisade.retry.')) {
    throw new PalisadeError('CONFIG_INVALID', `--shadow-topic ${shadowTopic} is a pipeline topic: the backtest's alerts must ` +
      'never reach the responder or a stage');
  }
  const security = resolveKafkaSecurity(cfg);
  const logger = createLogger({ level: cfg.logLevel, base: { service: 'backtest' } });

  const cleanups: (() => void | Promise<void>)[] = [];
  const abort = new AbortController();
  const onSignal = (): void => { abort.abort(); };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const candidate = await loadRules(cfg.policy, '--policy', logger);
    cleanups.push(candidate.cleanup);
    const current = await loadRules(cfg.current !== '' ? cfg.current : DEFAULT_POLICY_DIR, '--current', logger);
    cleanups.push(current.cleanup);

    const kafka = new Kafka({
      clientId: 'palisade-backtest', brokers: cfg.kafka, logLevel: logLevel.WARN, logCreator: kafkaLogCreator(logger.child({ module: 'kafka' })),
      retry: { retries: 8, initialRetryTime: 300, maxRetryTime: 5_000 },
      ...(security.ssl !== undefined && { ssl: security.ssl }), ...(security.sasl !== undefined && { sasl: security.sasl }),
    });
    const admin = kafka.admin();
    await admin.connect().catch((err: unknown) => { throw kafkaError('connect', err); });
    cleanups.push(() => admin.disconnect());

    const topic = TOPICS.enriched;
    const topics = await admin.listTopics().catch((err: unknown) => { throw kafkaError('list topics', err); });
    if (!topics.includes(topic)) {
      throw new PalisadeError('CONFIG_INVALID', `there is no ${topic} topic on ${cfg.kafka.join(',')} (or this principal may ` +
        'not describe it): nothing to backtest');
    }
    const retentionMs = await readRetention(admin, topic, logger);
    if (retentionMs !== null && retentionMs >= 0 && sinceMs < startedAt - retentionMs) {
      logger.warn(`--since reaches past the topic's retention (retention.ms ${retentionMs}): events older than that are gone, ` +
        'the backtest covers what is left (see firstRecordAt)', { topic, retentionMs });
    }
    // From the first offset whose timestamp is at or after --since (every record before it is older) to the high
    // watermark now. Timestamps need not grow with offsets (a producer sets them), so each record's own timestamp
    // decides too: one older than --since, or not before --until, is read but not evaluated.
    const [starts, highs] = await Promise.all([
      admin.fetchTopicOffsetsByTimestamp(topic, sinceMs),
      admin.fetchTopicOffsets(topic),
    ]).catch((err: unknown) => { throw kafkaError(`offsets of ${topic}`, err); });
    const ranges = partitionRanges(starts, highs.map((h) => ({ partition: h.partition, offset: h.high })));
    const endMs = untilMs ?? Infinity;
    const total = ranges.reduce((n, r) => n + r.end - r.start, 0);
    logger.info('backtest starting', { topic, since: new Date(sinceMs).toISOString(),
      until: untilMs === undefined ? 'end at start' : new Date(untilMs).toISOString(), records: total, partitions: ranges,
      candidate: candidate.source, current: current.source });

    let producer: Producer | undefined;
    if (shadowTopic !== '') {
      await ensureShadowTopic(admin, shadowTopic, topics, logger);
      producer = kafka.producer({ allowAutoTopicCreation: false });
      await producer.connect().catch((err: unknown) => { throw kafkaError('connect the producer', err); });
      const p = producer;
      cleanups.push(() => p.disconnect());
    }
    let file: WriteStream | undefined;
    if (cfg.out !== '') {
      const f = createWriteStream(resolve(cfg.out), { flags: 'w' });
      file = f;
      await new Promise<void>((res, rej) => { f.once('open', () => res()); f.once('error', rej); });
      cleanups.push(() => new Promise<void>((res) => { f.end(() => res()); }));
    }

    const builder = new BacktestReportBuilder(ruleInfos(candidate.engine), ruleInfos(current.engine));
    const group = `${cfg.groupPrefix}${new Date(startedAt).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-` +
      randomBytes(4).toString('hex');
    const stats = { records: 0, outsideTime: 0, events: 0, undecodable: 0, evaluationFailed: 0, alerts: 0, first: Infinity, last: -Infinity };
    const emit = async (alerts: palisade.v1.IAlert[]): Promise<void> => {
      if (alerts.length === 0) return;
      if (producer) {
        await producer.send({
          topic: shadowTopic, acks: -1,
          messages: alerts.map((a) => ({
            key: a.event?.pod?.uid || `${a.event?.node ?? ''}/cgroup/${a.event?.event?.process?.cgroupId ?? 0}`,
            value: Buffer.from(pb.Alert.encode(a).finish()),
            headers: { 'palisade-schema': 'palisade.v1.Alert', 'palisade-rule': a.ruleId ?? '', 'palisade-backtest-run': group },
          })),
        }).catch((err: unknown) => { throw kafkaError(`send to ${shadowTopic}`, err); });
      }
      if (file) {
        const f = file;
        const text = alerts.map((a) => `${alertToJson(a)}\n`).join('');
        if (!f.write(text)) await new Promise<void>((res) => f.once('drain', () => res()));
      }
      stats.alerts += alerts.length;
    };
    const pending: [palisade.v1.IAlert[], palisade.v1.IAlert[]][] = [];
    const evaluate = (batches: palisade.v1.IEnrichedEventBatch[]): void => {
      // Both sides see exactly the same events: a record one side cannot evaluate is left out of both.
      const now = Date.now() * 1e6;
      const events = batches.flatMap((b) => b.events ?? []);
      try {
        pending.push([candidate.engine.evaluate(events, now), current.engine.evaluate(events, now)]);
        return;
      } catch {
        // one record spoils the lot: evaluate record by record below
      }
      for (const b of batches) {
        try {
          pending.push([candidate.engine.evaluate(b.events ?? [], now), current.engine.evaluate(b.events ?? [], now)]);
        } catch (err) {
          stats.evaluationFailed++;
          logger.warn('a record could not be evaluated; left out of the diff', { error: errorMessage(err) });
        }
      }
    };

    if (total > 0) {
      const consumer = kafka.consumer({ groupId: group, allowAutoTopicCreation: false, maxWaitTimeInMs: 1_000,
        retry: { retries: 8, initialRetryTime: 300, maxRetryTime: 5_000 } });
      // Registered before connecting: whatever happens next, the run's group does not outlive it.
      cleanups.push(async () => {
        await consumer.disconnect().catch(() => undefined);
        await deleteGroup(admin, group, logger);
      });
      const rangeOf = new Map(ranges.map((r) => [r.partition, r]));
      const position = new Map(ranges.map((r) => [r.partition, r.start]));
      const open = new Set(ranges.filter((r) => r.end > r.start).map((r) => r.partition));
      let finish!: () => void;
      let fail!: (err: unknown) => void;
      const finished = new Promise<void>((res, rej) => { finish = res; fail = rej; });
      const eachBatch = async ({ batch, heartbeat, pause }: EachBatchPayload): Promise<void> => {
        const range = rangeOf.get(batch.partition);
        if (range === undefined || !open.has(batch.partition)) return;
        const decoded: palisade.v1.IEnrichedEventBatch[] = [];
        for (const m of batch.messages) {
          const offset = Number(m.offset);
          // A seek lands before the first fetch in kafkajs, but the range is what counts, whatever was fetched.
          if (offset < range.start || offset >= range.end) continue;
          const ts = Number(m.timestamp);
          if (ts < sinceMs || ts >= endMs) { stats.outsideTime++; continue; }
          stats.records++;
          stats.first = Math.min(stats.first, ts);
          stats.last = Math.max(stats.last, ts);
          try {
            const b = pb.EnrichedEventBatch.decode(m.value ?? Buffer.alloc(0));
            stats.events += b.events.length;
            decoded.push(b);
          } catch {
            stats.undecodable++;
          }
        }
        evaluate(decoded);
        for (const [cand, cur] of pending.splice(0)) {
          builder.add(cand, cur);
          await emit(cand);
        }
        const next = Number(batch.lastOffset()) + 1;
        position.set(batch.partition, Math.max(position.get(batch.partition) ?? 0, next));
        if (next >= range.end) {
          open.delete(batch.partition);
          pause();
          if (open.size === 0) finish();
        }
        await heartbeat();
      };
      // The run commits nothing, so every join (the first, and again after kafkajs restarts a consumer whose join
      // failed, as on a broker whose coordinator is still loading) seeks each open partition to where it got to.
      // Seeking needs a joined group: right after run() returns it may not be one yet.
      consumer.on(consumer.events.GROUP_JOIN, () => {
        for (const p of open) {
          try {
            consumer.seek({ topic, partition: p, offset: String(position.get(p) ?? rangeOf.get(p)?.start ?? 0) });
          } catch (err) {
            logger.warn('seek failed; the range filter still holds, reading from the group\'s start', { partition: p, error: errorMessage(err) });
          }
        }
      });
      consumer.on(consumer.events.CRASH, (e) => { if (!e.payload.restart) fail(kafkaError('consume', e.payload.error)); });
      const onAbort = (): void => fail(new PalisadeError('INTERNAL', 'interrupted: the run\'s consumer group is deleted, no report'));
      abort.signal.addEventListener('abort', onAbort, { once: true });
      if (abort.signal.aborted) onAbort();
      const progress = setInterval(() => {
        const done = ranges.reduce((n, r) => n + Math.min(r.end, position.get(r.partition) ?? r.start) - r.start, 0);
        logger.info('backtest progress', { records: done, of: total, percent: Math.floor((done / total) * 100),
          events: stats.events, candidateAlerts: stats.alerts, elapsedS: Math.round((Date.now() - startedAt) / 1000) });
      }, cfg.progressIntervalMs);
      try {
        await consumer.connect();
        await consumer.subscribe({ topics: [topic], fromBeginning: true });
        await consumer.run({ autoCommit: false, partitionsConsumedConcurrently: 1, eachBatch });
        if (open.size === 0) finish();
        await finished;
      } catch (err) {
        throw err instanceof PalisadeError ? err : kafkaError(`consume ${topic} as ${group}`, err);
      } finally {
        clearInterval(progress);
        abort.signal.removeEventListener('abort', onAbort);
      }
    }

    const report: BacktestReport = {
      group: total > 0 ? group : '', topic,
      since: new Date(sinceMs).toISOString(), until: new Date(untilMs ?? startedAt).toISOString(),
      retentionMs,
      candidate: summary(candidate), current: summary(current),
      partitions: ranges, records: stats.records, outsideTime: stats.outsideTime, events: stats.events, undecodable: stats.undecodable,
      evaluationFailed: stats.evaluationFailed,
      firstRecordAt: Number.isFinite(stats.first) ? new Date(stats.first).toISOString() : null,
      lastRecordAt: Number.isFinite(stats.last) ? new Date(stats.last).toISOString() : null,
      durationMs: Date.now() - startedAt,
      alertsWritten: { topic: shadowTopic || null, file: cfg.out !== '' ? resolve(cfg.out) : null, count: stats.alerts },
      rules: builder.rules(cfg.top),
    };
    // Cleanups first (the group deleted, the file flushed), so the report is printed only for a complete run.
    await runCleanups(cleanups, logger);
    logger.info('backtest done', { records: report.records, events: report.events, candidateAlerts: stats.alerts,
      durationMs: report.durationMs, group: report.group });
    io.stdout(cfg.json ? `${JSON.stringify(report)}\n` : `${reportText(report)}\n`);
  } finally {
    await runCleanups(cleanups, logger);
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}

async function runCleanups(cleanups: (() => void | Promise<void>)[], logger: Logger): Promise<void> {
  for (const c of cleanups.splice(0).reverse()) {
    try {
      await c();
    } catch (err) {
      logger.warn('backtest cleanup failed', { error: errorMessage(err) });
    }
  }
}

// Kafka's DescribeConfigs resource type of a topic (kafkajs' enum is not exported to ES modules by name).
const RESOURCE_TOPIC = 2;

async function readRetention(admin: Admin, topic: string, logger: Logger): Promise<number | null> {
  try {
    const { resources } = await admin.describeConfigs({
      resources: [{ type: RESOURCE_TOPIC, name: topic, configNames: ['retention.ms'] }], includeSynonyms: false,
    } as unknown as Parameters<Admin['describeConfigs']>[0]);
    const v = resources[0]?.configEntries.find((e) => e.configName === 'retention.ms')?.configValue;
    return v === undefined ? null : Number(v);
  } catch (err) {
    logger.warn('could not read the topic\'s retention.ms', { topic, error: errorMessage(err) });
    return null;
  }
}

async function ensureShadowTopic(admin: Admin, topic: string, existing: string[], logger: Logger): Promise<void> {
  if (existing.includes(topic)) return;
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true });
    logger.info('created the shadow topic', { topic });
  } catch (err) {
    // kafkajs reports a refused CreateTopics as an aggregate whose `errors` carry the broker's error types.
    const types = ((err as { errors?: { type?: unknown }[] }).errors ?? []).map((e) => String(e.type ?? ''));
    const e = kafkaError(`create the shadow topic ${topic}`, err);
    if (e.code === 'BUS_FORBIDDEN' || types.some((t) => t.endsWith('AUTHORIZATION_FAILED'))) {
      throw new PalisadeError('BUS_FORBIDDEN', `kafka: this principal may not create the shadow topic ${topic} ` +
        `(${types.join(', ') || e.message}): under the ACL plan the admin creates it, with palisade kafka-acls --apply ` +
        `(${BACKTEST_DEFAULTS.shadowTopic}), and grants WRITE on it`, { cause: err });
    }
    throw e;
  }
}

/** Deletes the run's group; it may take a moment after the member left before the coordinator sees it empty. */
async function deleteGroup(admin: Admin, group: string, logger: Logger): Promise<void> {
  let lastErr: unknown;
  for (let attempt = 0; attempt < 10; attempt++) {
    try {
      await admin.deleteGroups([group]);
      logger.info('consumer group deleted', { group });
      return;
    } catch (err) {
      const types = JSON.stringify((err as { groups?: unknown }).groups ?? '');
      if (types.includes('GROUP_ID_NOT_FOUND')) return;
      lastErr = err;
      await new Promise((r) => setTimeout(r, 500 * (attempt + 1)));
    }
  }
  logger.warn('could not delete the run\'s consumer group; delete it with kafka-consumer-groups.sh --delete', {
    group, error: errorMessage(lastErr),
  });
}

/** The report as text: what was read, then the per-rule table. */
export function reportText(r: BacktestReport): string {
  const form = (s: RulesSummary): string => `${s.rules} rules, ` + (s.buildMs !== null ? `built in ${(s.buildMs / 1000).toFixed(1)} s`
    : FORM_TEXT[s.form] + (s.revision ? ` revision ${s.revision}` : ''));
  const lines = [
    `backtest of ${r.candidate.source} (${form(r.candidate)}) against ${r.current.source} (${form(r.current)})`,
    `read ${r.topic} from ${r.since} to ${r.until}: ${r.records} records, ${r.events} events` +
      (r.firstRecordAt ? ` (first ${r.firstRecordAt}, last ${r.lastRecordAt})` : '') +
      (r.outsideTime > 0 ? ` (and ${r.outsideTime} outside that time range skipped)` : '') +
      ` in ${(r.durationMs / 1000).toFixed(1)} s` +
      (r.retentionMs !== null ? `; retention.ms ${r.retentionMs}` : ''),
  ];
  if (r.undecodable > 0 || r.evaluationFailed > 0) {
    lines.push(`left out: ${r.undecodable} undecodable records, ${r.evaluationFailed} records a rule set failed on`);
  }
  lines.push(`candidate alerts: ${r.alertsWritten.count}` +
    `${r.alertsWritten.topic ? ` -> topic ${r.alertsWritten.topic}` : ''}${r.alertsWritten.file ? ` -> ${r.alertsWritten.file}` : ''}`);
  lines.push('', rulesTable(r.rules));
  return lines.join('\n');
}

/** `palisade policy <subcommand>`. */
export async function runPolicy(src: ConfigSources): Promise<void> {
  const [sub, ...rest] = src.argv;
  if (sub === 'backtest') return runBacktest({ env: src.env, argv: rest });
  if (sub === undefined || sub === '--help' || sub === 'help') {
    process.stdout.write('usage: palisade policy backtest --policy <dir|bundle.tar.gz> --since <6h|time> [flags]   (--help lists them)\n' +
      '  backtest   run candidate rules over the retained enriched topic and report per rule against the current rules\n');
    return;
  }
  throw new PalisadeError('CONFIG_INVALID', `unknown policy command ${JSON.stringify(sub)}; try: palisade policy backtest --help`);
}
