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
