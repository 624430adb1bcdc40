// Values the chart tests render with: the defaults, and a TLS + SASL install as a production one would look.
export const STAGES = ['collector', 'enricher', 'evaluator', 'responder'] as const;
export type Stage = (typeof STAGES)[number];

/** SASL_SSL with SCRAM-SHA-512, a private CA, a client certificate per stage, one password key per stage. */
export const TLS_SASL_VALUES = {
  kafka: {
    brokers: ['kafka-0.kafka.svc:9093', 'kafka-1.kafka.svc:9093'],
    tls: {
      enabled: true, caSecret: 'kafka-ca', caKey: 'ca.pem', serverName: 'kafka.internal',
      clientCertSecrets: { collector: 'kafka-collector-cert', enricher: 'kafka-enricher-cert',
        evaluator: 'kafka-evaluator-cert', responder: 'kafka-responder-cert' },
    },
    sasl: {
      enabled: true, mechanism: 'scram-sha-512', passwordSecret: 'kafka-passwords',
      users: { collector: 'pal-coll', enricher: 'pal-enr', evaluator: 'pal-eval', responder: 'pal-resp' },
    },
  },
};

/** Object name of a stage for the release name the tests use (`palisade`). */
export const nameOf = (stage: Stage): string => `palisade-${stage}`;

/** Every optional branch of the templates switched on at once (on top of TLS + SASL), so each renders and validates. */
export const ALL_OPTIONS_VALUES = {
  ...TLS_SASL_VALUES,
  image: { repository: 'registry.example:5000/sec/palisade', digest: `sha256:${'b'.repeat(64)}`, pullPolicy: 'Always' },
  imagePullSecrets: ['regcred'],
  logLevel: 'debug',
  collector: { tracingPolicyConfigMap: 'palisade-tracing', sysAdmin: true, seccompProfile: 'Unconfined', priorityClassName: '',
    nodeSelector: { 'kubernetes.io/os': 'linux' }, tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'sec', effect: 'NoSchedule' }],
    bufferMode: 'perfbuf', maxUnavailable: 3 },
  enricher: { replicas: 3, nodeSelector: { pool: 'system' }, tolerations: [{ operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 30 }] },
  evaluator: { tuningConfigMap: 'palisade-tuning', policyBundle: 'https://bundles.example/palisade.tar.gz', pdbMaxUnavailable: 0 },
  responder: { dryRun: false, protectedNamespaces: ['kube-system', 'monitoring'], maxActionsPerMinute: 30, replicas: 1 },
};
