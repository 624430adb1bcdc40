// Which Kafka principal may do what: one principal per stage, each allowed only the topics and consumer group its
// stage uses. The one table here is applied by `palisade kafka-acls --apply` (with the admin's credentials), printed
// as kafka-acls.sh commands by `palisade kafka-acls`, shown in the README, and tested on a real broker
// (test/kafka/acl.test.ts). The stages never create topics or ACLs themselves under this plan: the admin does, once.
//
// What each grant is for: READ on the input topic and READ on the stage's group (fetch and commit); WRITE on the
// outputs and the dead-letter topic (WRITE also covers the idempotent producer's InitProducerId, KIP-679); READ and
// WRITE imply DESCRIBE, which metadata and Bus.ensureTopics need; DESCRIBE_CONFIGS on the outputs lets a stage read
// their max.message.bytes (Bus.maxMessageBytes). A consuming stage also reads and writes its own retry topic
// (palisade.retry.<stage>, in group <group>.retry), where records whose retriable errors outlast the budget wait.
// `palisade policy backtest` runs as a principal of its own: it reads the enriched topic in groups named with a prefix
// (one fresh group per run, which it deletes at the end: DELETE on the prefix) and writes only its shadow topic,
// never palisade.alerts.
import type { Admin, AclEntry } from 'kafkajs';
import { TOPICS } from './bus.js';
import { retryTopic } from './consumer-stage.js';

// Kafka's protocol codes for ACLs. kafkajs' enums of these are TypeScript enums that its CommonJS build does not
// export by name to ES modules, so the (stable, protocol-defined) numbers are spelled out.
const RESOURCE = { topic: 2, group: 3 } as const;
const PATTERN_ANY = 1;
const PATTERN_LITERAL = 3;
const PATTERN_PREFIXED = 4;
const PERMISSION_ALLOW = 3;

export type StageName = 'collector' | 'enricher' | 'evaluator' | 'responder';
export type AclOperation = 'READ' | 'WRITE' | 'DELETE' | 'DESCRIBE_CONFIGS';

export interface AclGrant {
  principal: string;
  resource: 'topic' | 'group';
  /** The resource's name, or with pattern 'prefixed' every name that starts with it. */
  name: string;
  operation: AclOperation;
  /** Default: literal. */
  pattern?: 'literal' | 'prefixed';
}

/** The backtest's defaults (services/palisade/src/backtest.ts uses the same). */
export const BACKTEST_DEFAULTS = {
  user: 'palisade-backtest',
  /** Each run's group is <prefix><time>-<random>. */
  groupPrefix: 'palisade-backtest-',
  shadowTopic: 'palisade.backtest.alerts',
} as const;

export interface AclPlanOptions {
  /** SASL user (or certificate CN) of each stage. Default: palisade-<stage>. */
  users?: Partial<Record<StageName, string>>;
  /** Consumer group of each consuming stage. Default: palisade-<stage>, as the stages' own defaults. */
  groups?: Partial<Record<Exclude<StageName, 'collector'>, string>>;
  /** The backtest principal, its group prefix and shadow topic. Default: BACKTEST_DEFAULTS. */
  backtest?: { user?: string; groupPrefix?: string; shadowTopic?: string };
}

interface StageAccess { reads?: string; writes: string[] }

const ACCESS: Record<StageName, StageAccess> = {
  collector: { writes: [TOPICS.raw] },
  enricher: { reads: TOPICS.raw, writes: [TOPICS.enriched] },
  evaluator: { reads: TOPICS.enriched, writes: [TOPICS.alerts] },
  responder: { reads: TOPICS.alerts, writes: [TOPICS.actions] },
};

export const STAGES: readonly StageName[] = ['collector', 'enricher', 'evaluator', 'responder'];

export function stageUser(stage: StageName, opts: AclPlanOptions = {}): string {
  return opts.users?.[stage] ?? `palisade-${stage}`;
}

/** Every ALLOW grant of the plan; anything not listed is denied (the authorizer's default without a matching ACL). */
export function aclPlan(opts: AclPlanOptions = {}): AclGrant[] {
  const out: AclGrant[] = [];
  for (const stage of STAGES) {
    const principal = `User:${stageUser(stage, opts)}`;
    const access = ACCESS[stage];
    const writes = [...access.writes];
    if (access.reads !== undefined && stage !== 'collector') {
      const group = opts.groups?.[stage] ?? `palisade-${stage}`;
      for (const [topic, g] of [[access.reads, group], [retryTopic(stage), `${group}.retry`]] as const) {
        out.push({ principal, resource: 'topic', name: topic, operation: 'READ' });
        out.push({ principal, resource: 'group', name: g, operation: 'READ' });
      }
      writes.push(retryTopic(stage));
    }
    for (const topic of [...writes, TOPICS.deadLetter]) {
      out.push({ principal, resource: 'topic', name: topic, operation: 'WRITE' });
      out.push({ principal, resource: 'topic', name: topic, operation: 'DESCRIBE_CONFIGS' });
    }
  }
  const bt = { ...BACKTEST_DEFAULTS, ...opts.backtest };
  const principal = `User:${bt.user}`;
  out.push({ principal, resource: 'topic', name: TOPICS.enriched, operation: 'READ' });
  // retention.ms of the enriched topic: the backtest says when --since reaches past what is kept.
  out.push({ principal, resource: 'topic', name: TOPICS.enriched, operation: 'DESCRIBE_CONFIGS' });
  out.push({ principal, resource: 'group', name: bt.groupPrefix, operation: 'READ', pattern: 'prefixed' });
  out.push({ principal, resource: 'group', name: bt.groupPrefix, operation: 'DELETE', pattern: 'prefixed' });
  out.push({ principal, resource: 'topic', name: bt.shadowTopic, operation: 'WRITE' });
  out.push({ principal, resource: 'topic', name: bt.shadowTopic, operation: 'DESCRIBE_CONFIGS' });
  return out;
}

/** The topics the plan covers, which the admin creates. */
export const PLAN_TOPICS: readonly string[] = [
  ...Object.values(TOPICS), ...STAGES.filter((s) => ACCESS[s].reads !== undefined).map((s) => retryTopic(s)),
  BACKTEST_DEFAULTS.shadowTopic,
];

const OPERATION_NAMES: Record<AclOperation, string> = { READ: 'Read', WRITE: 'Write', DELETE: 'Delete', DESCRIBE_CONFIGS: 'DescribeConfigs' };

/** The plan as `kafka-acls.sh` commands, for operators who apply ACLs with Kafka's own tools. */
export function aclCommands(plan: AclGrant[], bootstrap = '<broker:9093>', adminConfig = 'admin.properties'): string[] {
  return plan.map((g) => `kafka-acls.sh --bootstrap-server ${bootstrap} --command-config ${adminConfig} --add ` +
    `--allow-principal ${g.principal} --operation ${OPERATION_NAMES[g.operation]} --${g.resource} ${g.name}` +
    (g.pattern === 'prefixed' ? ' --resource-pattern-type prefixed' : ''));
}

/** The plan as a Markdown table, one row per principal (the README's table). */
export function aclTable(opts: AclPlanOptions = {}): string {
  const plan = aclPlan(opts);
  const rows = ['| principal | reads (topic) | consumer group | writes (topics) |', '|---|---|---|---|'];
  for (const stage of STAGES) {
    const principal = `User:${stageUser(stage, opts)}`;
    const mine = plan.filter((g) => g.principal === principal);
    const list = (pred: (g: AclGrant) => boolean): string => mine.filter(pred).map((g) => `\`${g.name}\``).join(', ') || '—';
    rows.push(`| \`${principal}\` (${stage}) | ${list((g) => g.resource === 'topic' && g.operation === 'READ')} | ` +
      `${list((g) => g.resource === 'group')} | ${list((g) => g.operation === 'WRITE')} |`);
  }
  const bt = { ...BACKTEST_DEFAULTS, ...opts.backtest };
  rows.push(`| \`User:${bt.user}\` (\`palisade policy backtest\`) | \`${TOPICS.enriched}\` | \`${bt.groupPrefix}*\` (read, delete) | ` +
    `\`${bt.shadowTopic}\` |`);
  return rows.join('\n');
}

const OPERATIONS: Record<AclOperation, number> = { READ: 3, WRITE: 4, DELETE: 6, DESCRIBE_CONFIGS: 10 };
const patternCode = (g: AclGrant): number => (g.pattern === 'prefixed' ? PATTERN_PREFIXED : PATTERN_LITERAL);

const ANY = 1;

/** The grants of the plan the broker does not list yet (DescribeAcls is answered from the broker's authorizer). */
async function notYetEnforced(admin: Pick<Admin, 'describeAcls'>, plan: AclGrant[]): Promise<AclGrant[]> {
  const { resources } = await admin.describeAcls({
    resourceType: ANY, resourcePatternType: PATTERN_ANY, operation: ANY, permissionType: PERMISSION_ALLOW,
  } as unknown as Parameters<Admin['describeAcls']>[0]);
  const have = new Set<string>();
  for (const r of resources) {
    for (const a of r.acls) {
      have.add(`${Number(r.resourceType)}/${Number(r.resourcePatternType)}/${r.resourceName}/${a.principal}/${Number(a.operation)}`);
    }
  }
  return plan.filter((g) => !have.has(`${RESOURCE[g.resource]}/${patternCode(g)}/${g.name}/${g.principal}/${OPERATIONS[g.operation]}`));
}

/**
 * Applies the plan with an admin's client: creates the topics that are missing, then the ACLs (creating an ACL that
 * exists is a no-op, so running it again is safe), and returns once the broker lists every one of them. In KRaft the
 * controller commits an ACL before the brokers' authorizers load it, so without that wait a stage started right after
 * would be refused for a moment. Returns what it created.
 */
export async function applyAclPlan(admin: Pick<Admin, 'listTopics' | 'createTopics' | 'createAcls' | 'describeAcls'>,
  plan: AclGrant[], opts: { partitions?: number; timeoutMs?: number; topicConfigs?: Readonly<Record<string, Readonly<Record<string, string>>>> } = {},
): Promise<{ topicsCreated: string[]; acls: number }> {
  const existing = new Set(await admin.listTopics());
  const missing = PLAN_TOPICS.filter((t) => !existing.has(t));
  if (missing.length > 0) {
    await admin.createTopics({
      topics: missing.map((topic) => {
        const configs = Object.entries(opts.topicConfigs?.[topic] ?? {});
        return { topic, numPartitions: opts.partitions ?? 3,
          ...(configs.length > 0 && { configEntries: configs.map(([name, value]) => ({ name, value })) }) };
      }),
      waitForLeaders: true,
    });
  }
  await admin.createAcls({
    acl: plan.map((g) => ({
      principal: g.principal, host: '*', operation: OPERATIONS[g.operation], permissionType: PERMISSION_ALLOW,
      resourceType: RESOURCE[g.resource], resourceName: g.name, resourcePatternType: patternCode(g),
    }) as unknown as AclEntry), // the numbers are the enums' values (see above)
  });
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  for (;;) {
    const pending = await notYetEnforced(admin, plan);
    if (pending.length === 0) break;
    if (Date.now() > deadline) {
      throw new Error(`kafka acls: created, but the broker still does not list ${pending.length} of them, e.g. ` +
        `${pending[0]?.principal} ${pending[0]?.operation} ${pending[0]?.resource} ${pending[0]?.name}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { topicsCreated: missing, acls: plan.length };
}
