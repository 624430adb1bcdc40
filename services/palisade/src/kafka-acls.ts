// `palisade kafka-acls`: the per-principal topic ACLs (services/common/src/kafka-acls.ts). Without --apply it prints
// the plan as kafka-acls.sh commands; with --apply it connects as the admin (the usual --kafka-* security flags),
// creates the topics that are missing and the ACLs.
import { Kafka, logLevel } from 'kafkajs';
import {
  BACKTEST_DEFAULTS, aclCommands, aclPlan, applyAclPlan, bool, describeConfig, int, kafkaSecurityKeys, list, loadConfig, resolveKafkaSecurity,
  str, topicConfigs, topicKeys, type ConfigSources,
} from '@palisade/common';

export const kafkaAclsSchema = {
  kafka: list('Kafka bootstrap brokers, comma-separated', 'PALISADE_KAFKA_BROKERS', ['127.0.0.1:9092']),
  ...kafkaSecurityKeys,
  ...topicKeys,
  collectorUser: str('Principal (SASL user or certificate CN) of the collectors', 'PALISADE_ACL_COLLECTOR_USER', 'palisade-collector'),
  enricherUser: str('Principal of the enricher', 'PALISADE_ACL_ENRICHER_USER', 'palisade-enricher'),
  evaluatorUser: str('Principal of the evaluator: the only one that may write palisade.alerts', 'PALISADE_ACL_EVALUATOR_USER',
    'palisade-evaluator'),
  responderUser: str('Principal of the responder', 'PALISADE_ACL_RESPONDER_USER', 'palisade-responder'),
  backtestUser: str('Principal of `palisade policy backtest`', 'PALISADE_ACL_BACKTEST_USER', BACKTEST_DEFAULTS.user),
  backtestGroupPrefix: str('Prefix of the backtest\'s consumer groups (one per run)', 'PALISADE_BACKTEST_GROUP_PREFIX',
    BACKTEST_DEFAULTS.groupPrefix),
  enricherGroup: str('Consumer group of the enricher', 'PALISADE_ENRICHER_GROUP', 'palisade-enricher'),
  evaluatorGroup: str('Consumer group of the evaluator', 'PALISADE_EVALUATOR_GROUP', 'palisade-evaluator'),
  responderGroup: str('Consumer group of the responder', 'PALISADE_RESPONDER_GROUP', 'palisade-responder'),
  apply: bool('Create the missing topics and the ACLs (as the admin given by the --kafka-* flags); without it, print ' +
    'kafka-acls.sh commands', 'PALISADE_ACL_APPLY', false),
  partitions: int('Partitions of each topic created', 'PALISADE_ACL_PARTITIONS', 3, 1),
};

export async function runKafkaAcls(src: ConfigSources, out: (line: string) => void = (l) => process.stdout.write(`${l}\n`)): Promise<void> {
  if (src.argv.includes('--help')) { out(`palisade kafka-acls [flags]\n${describeConfig(kafkaAclsSchema)}`); return; }
  const cfg = loadConfig(kafkaAclsSchema, src);
  const plan = aclPlan({
    users: { collector: cfg.collectorUser, enricher: cfg.enricherUser, evaluator: cfg.evaluatorUser, responder: cfg.responderUser },
    groups: { enricher: cfg.enricherGroup, evaluator: cfg.evaluatorGroup, responder: cfg.responderGroup },
    backtest: { user: cfg.backtestUser, groupPrefix: cfg.backtestGroupPrefix },
  });
  if (!cfg.apply) {
    for (const line of aclCommands(plan, cfg.kafka.join(','))) out(line);
    return;
  }
  const security = resolveKafkaSecurity(cfg);
  const kafka = new Kafka({
    clientId: 'palisade-kafka-acls', brokers: cfg.kafka, logLevel: logLevel.WARN,
    ...(security.ssl !== undefined && { ssl: security.ssl }), ...(security.sasl !== undefined && { sasl: security.sasl }),
  });
  const admin = kafka.admin();
  await admin.connect();
  try {
    const r = await applyAclPlan(admin, plan, { partitions: cfg.partitions, topicConfigs: topicConfigs(cfg) });
    out(JSON.stringify({ msg: 'kafka acls applied', topicsCreated: r.topicsCreated, acls: r.acls }));
  } finally {
    await admin.disconnect();
  }
}
