// `palisade rules list`: every rule of the built policy (metadata.json), whether it is enabled and why, its severity
// and the tuned one, and its exceptions, as the evaluator would apply them with the same --tuning. A tuning that the
// evaluator would refuse is refused here with the same message, so this doubles as a check before a rollout.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { bool, describeConfig, loadConfig, PalisadeError, type ConfigSources } from '@palisade/common';
import {
  DEFAULT_POLICY_DIR, EMPTY_TUNING, evaluatorSchema, loadTuning, parseMetadata, ruleStatuses, type RuleException, type RuleStatus,
  type Tuning,
} from '@palisade/evaluator';

export const rulesListSchema = {
  policyDir: evaluatorSchema.policyDir,
  tuning: evaluatorSchema.tuning,
  json: bool('Print one JSON object instead of the table', 'PALISADE_RULES_JSON', false),
};

const USAGE = 'palisade rules list [flags]';

export async function runRules(src: ConfigSources, out: (text: string) => void = (t) => process.stdout.write(t)): Promise<void> {
  const [sub, ...rest] = src.argv;
  if (sub === undefined || sub === '--help' || sub === 'help') {
    out(`${USAGE}: every rule, whether it is enabled and why, its severity and exceptions\n${describeConfig(rulesListSchema)}\n`);
    return;
  }
  if (sub !== 'list') throw new PalisadeError('CONFIG_INVALID', `unknown rules command ${JSON.stringify(sub)}; try: ${USAGE}`);
  if (rest.includes('--help')) { out(`${USAGE}\n${describeConfig(rulesListSchema)}\n`); return; }
  const cfg = loadConfig(rulesListSchema, { env: src.env, argv: rest });
  const dir = cfg.policyDir !== '' ? resolve(cfg.policyDir) : DEFAULT_POLICY_DIR;
  const metadataPath = join(dir, 'metadata.json');
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(metadataPath, 'utf8'));
  } catch (err) {
    throw new PalisadeError('CONFIG_INVALID', `cannot read ${metadataPath} (build the policies: node scripts/build-policies.mjs): ${String(err)}`,
      { cause: err });
  }
  const rules = parseMetadata(json);
  const tuning = cfg.tuning !== '' ? loadTuning(resolve(cfg.tuning), new Set(rules.map((r) => r.id))) : EMPTY_TUNING;
  const statuses = ruleStatuses(rules, tuning);
  out(cfg.json ? `${JSON.stringify(asJson(statuses, tuning, metadataPath))}\n` : table(statuses, tuning, cfg.tuning));
}

function asJson(statuses: readonly RuleStatus[], tuning: Tuning, metadata: string): unknown {
  return {
    metadata,
    tuning: { files: tuning.files, sha256: tuning.sha256 },
    rules: statuses.map((s) => ({
      id: s.id, title: s.title, severity: s.severityOverride?.value ?? s.severity, defaultSeverity: s.severity,
      severityOverride: s.severityOverride ?? null, mitre: s.mitre, eventKinds: s.eventKinds, enabled: s.enabled, why: s.why,
      exceptions: s.exceptions.map((x) => ({ name: x.name, reason: x.reason, match: x.match, ...(x.rules && { rules: x.rules }), source: x.source })),
    })),
  };
}

function matchText(x: RuleException): string {
  return Object.entries(x.match).map(([f, vs]) => `${f}=${(vs ?? []).join('|')}`).join(' ');
}

function table(statuses: readonly RuleStatus[], tuning: Tuning, path: string): string {
  const rows = statuses.map((s) => [
    s.id, s.enabled ? 'yes' : 'no', s.severityOverride ? `${s.severity} -> ${s.severityOverride.value}` : s.severity,
    s.mitre || '-', s.eventKinds.join(','), s.title,
  ]);
  const head = ['ID', 'ENABLED', 'SEVERITY', 'MITRE', 'KINDS', 'TITLE'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ');
  const indent = ' '.repeat((widths[0] ?? 0) + 2);
  const lines = [line(head)];
  statuses.forEach((s, i) => {
    lines.push(line(rows[i] ?? []));
    lines.push(`${indent}${s.enabled ? 'enabled' : 'disabled'}: ${s.why}`);
    if (s.severityOverride) lines.push(`${indent}severity: ${s.severityOverride.source.file}: ${s.severityOverride.source.key}`);
    for (const x of s.exceptions) {
      lines.push(`${indent}exception ${x.name}: ${matchText(x)}${x.reason ? ` (${x.reason})` : ''}  [${x.source.file}: ${x.source.key}]`);
    }
  });
  const enabled = statuses.filter((s) => s.enabled).length;
  const exceptions = statuses.reduce((n, s) => n + s.exceptions.length, 0);
  lines.push('', `${statuses.length} rules, ${enabled} enabled, ${exceptions} exceptions; ` +
    (path === '' ? 'no tuning (--tuning <file or folder>)'
      : `tuning ${path}: ${tuning.files.length > 0 ? `${tuning.files.join(', ')} (sha256 ${tuning.sha256.slice(0, 12)})` : 'no files'}`));
  return `${lines.join('\n')}\n`;
}
