export { pb, palisade } from './proto.js';
export * from './bus.js';
export * from './errors.js';
export * from './logger.js';
export * from './config-schema.js';
export * from './metrics.js';
export * from './lifecycle.js';
export * from './http-server.js';
export * from './retry.js';
export { MemoryBus, type MemoryBusOptions } from './memory-bus.js';
export * from './topic-consumer.js';
export * from './common-config.js';
export * from './run-services.js';
export { createBus } from './bus-factory.js';
export { KafkaBus, kafkaError, kafkaLogCreator, type KafkaBusOptions, type KafkaLike } from './kafka-bus.js';
export { AlertSigner, AlertVerifier, alertKeyId, ephemeralAlertKeys, SIGNATURE_HEADER, SIGNATURE_KEY_HEADER, type UntrustedReason,
  type Verdict } from './alert-signature.js';
export { aclPlan, aclCommands, aclTable, applyAclPlan, stageUser, BACKTEST_DEFAULTS, PLAN_TOPICS, STAGES, type AclGrant, type AclPlanOptions,
  type StageName } from './kafka-acls.js';
export { resolveKafkaSecurity, kafkaSecurityKeys, KAFKA_SECURITY_PROTOCOLS, KAFKA_SASL_MECHANISMS, type KafkaSecurity,
  type KafkaSecurityKeyValues, type KafkaSecurityProtocol, type KafkaSaslMechanism } from './kafka-security.js';
export { loadKubeConfig, type LoadedKubeConfig, type KubeConfigSources } from './kube-config.js';
export { deadlineOptions, kubeFromConfig } from './kube-connect.js';
export { runIfMain } from './main-entry.js';
export { ConsumerStage, DEFAULT_RESILIENCE, RETRY_HEADERS, originOf, retryTopic, type ConsumerStageOptions,
  type StageResilience } from './consumer-stage.js';
export { ProgressTracker } from './consumer-progress.js';
export { ABI, type AbiKind, type AbiStat, type AbiConstants, type AbiStructs, type EventKindName } from './gen/abi.js';
export { BoundedProducer, MESSAGE_HEADROOM_BYTES, type SplitPart, type BoundedProducerOptions } from './bounded-producer.js';
export { buildDeadLetter, DeadLetterSender, DEAD_LETTER_HEAD_BYTES, sha256Hex, type DeadLetterInput, type DeadLetterCause,
  type DeadLetterSenderOptions } from './dead-letter.js';
export { splitEncoded, chunkBySize, type SplitInput, type SplitOutput } from './record-splitter.js';
export { KIND_NAME_BY_ID, KIND_ID_BY_NAME, KERNEL_LOSS_COUNTERS } from './registry.js';
