// `palisade attack <rule-id>|all [--pod] [--list] [--json]`: runs each rule's trigger (triggers.ts) on this node, so
// a user can see with their own collector and rules which detections fire. --pod runs it in a throwaway
// kubelet-style pod cgroup, so container-only rules see a container process; without it, the trigger runs in the
// caller's own cgroup (a rule about containers then rightly stays silent on a host shell).
import { bool, describeConfig, loadConfig, str, type ConfigSources } from '@palisade/common';
import { AttackContext } from './context.js';
import { TRIGGERS, triggersFor, type Trigger } from './triggers.js';

export { AttackContext, CONTAINER_ENV, type Pod, type RunResult } from './context.js';
export { TRIGGERS, triggersFor, type Trigger } from './triggers.js';

export const attackSchema = {
  pod: bool('Run each trigger in a new kubelet-style pod cgroup (removed afterwards)', 'PALISADE_ATTACK_POD', false),
  cgroupRoot: str('cgroup2 mount the pod cgroups are made under', 'PALISADE_ATTACK_CGROUP_ROOT', '/sys/fs/cgroup/unified'),
  list: bool('List the triggers and exit', 'PALISADE_ATTACK_LIST', false),
  json: bool('One JSON line per trigger run on stdout', 'PALISADE_ATTACK_JSON', false),
};

export interface AttackReport {
  rule: string;
  technique: string;
  what: string;
  /** The pod's container id when run with --pod: the alert names it. */
  container_id: string | null;
  pod_uid: string | null;
  exit_codes: (number | null)[];
  ok: boolean;
  error?: string;
}

/** Runs one trigger in its own context; never throws for the trigger's own failure (it is in the report). */
export async function runTrigger(t: Trigger, opts: { pod: boolean; cgroupRoot: string }): Promise<AttackReport> {
  const ctx = new AttackContext(t.rule, opts.pod ? { podCgroupRoot: opts.cgroupRoot } : {});
  const base = {
    rule: t.rule, technique: t.technique, what: t.what,
    container_id: ctx.pod?.containerId ?? null, pod_uid: ctx.pod?.podUid ?? null,
  };
  try {
    if (t.root === true && process.getuid?.() !== 0) {
      return { ...base, exit_codes: [], ok: false, error: 'needs root' };
    }
    const runs = await t.run(ctx);
    return { ...base, exit_codes: runs.map((r) => r.code), ok: true };
  } catch (err) {
    return { ...base, exit_codes: [], ok: false, error: err instanceof Error ? err.message : String(err) };
  } finally {
    ctx.close();
  }
}

export async function runAttack(src: ConfigSources, out: (line: string) => void = (l) => process.stdout.write(`${l}\n`)): Promise<void> {
  const usage = 'palisade attack <rule-id>|all [flags]';
  if (src.argv.includes('--help')) { out(`${usage}\n${describeConfig(attackSchema)}`); return; }
  // The rule id comes first: a boolean flag may take a value (`--pod true`), so a trailing word would be read as one.
  const first = src.argv[0];
  const target = first !== undefined && !first.startsWith('--') ? first : undefined;
  const cfg = loadConfig(attackSchema, { env: src.env, argv: target === undefined ? src.argv : src.argv.slice(1) });
  if (cfg.list) {
    for (const t of TRIGGERS) out(`${t.rule.padEnd(8)} ${t.technique.padEnd(10)} ${t.root === true ? 'root ' : '     '}${t.what}`);
    return;
  }
  if (target === undefined) throw new Error(`usage: ${usage} (palisade attack --list names them)`);
  const triggers = triggersFor(target);
  if (triggers.length === 0) {
    throw new Error(`no trigger for ${JSON.stringify(target)}; palisade attack --list names the rules that have one`);
  }
  let failed = 0;
  for (const t of triggers) {
    const r = await runTrigger(t, { pod: cfg.pod, cgroupRoot: cfg.cgroupRoot });
    if (!r.ok) failed++;
    if (cfg.json) out(JSON.stringify(r));
    else out(`${r.ok ? 'ran   ' : 'FAILED'} ${r.rule.padEnd(8)} ${r.technique.padEnd(10)} ${r.what}` +
      `${r.container_id !== null ? ` (container ${r.container_id.slice(0, 12)})` : ''}${r.error !== undefined ? `: ${r.error}` : ''}`);
  }
  if (failed > 0) process.exitCode = 1;
}
