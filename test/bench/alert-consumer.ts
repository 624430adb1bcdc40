// Reads palisade.alerts the way a user's integration would: its own kafkajs consumer group, default fetch settings,
// decoding palisade.v1.Alert. Each alert is stamped with Date.now() on arrival; its latency is that minus the kernel
// timestamp of the event that raised it (already wall-clock time: the collector converts CLOCK_BOOTTIME).
import { randomBytes } from 'node:crypto';
import { Kafka, logLevel, type Consumer } from 'kafkajs';
import { TOPICS, pb } from '@palisade/common';

export interface ReceivedAlert {
  ruleId: string;
  pid: number;
  /** Kernel timestamp of the event, ms since the epoch. */
  eventMs: number;
  receivedMs: number;
}

export class AlertConsumer {
  readonly alerts: ReceivedAlert[] = [];
  private readonly listeners = new Set<() => void>();

  private constructor(private readonly consumer: Consumer) {}

  /** Connects, joins a fresh group and resolves once it has its partitions. */
  static async start(brokers: string[], timeoutMs = 30_000): Promise<AlertConsumer> {
    const kafka = new Kafka({ clientId: 'palisade-bench', brokers, logLevel: logLevel.NOTHING });
    const consumer = kafka.consumer({ groupId: `palisade-bench-${randomBytes(4).toString('hex')}` });
    const self = new AlertConsumer(consumer);
    const joined = new Promise<void>((resolve) => {
      const off = consumer.on(consumer.events.GROUP_JOIN, () => { off(); resolve(); });
    });
    await consumer.connect();
    try {
      await consumer.subscribe({ topics: [TOPICS.alerts], fromBeginning: true });
      await consumer.run({
        eachBatch: async ({ batch }) => {
          const receivedMs = Date.now();
          for (const m of batch.messages) {
            if (m.value === null) continue;
            const a = pb.Alert.decode(m.value);
            const raw = a.event?.event;
            self.alerts.push({
              ruleId: a.ruleId, pid: raw?.process?.pid ?? 0, eventMs: Number(raw?.timeUnixNano ?? 0) / 1e6, receivedMs,
            });
          }
          for (const l of self.listeners) l();
        },
      });
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([joined, new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`the alert consumer did not join its group within ${timeoutMs} ms`)), timeoutMs);
      })]).finally(() => clearTimeout(timer));
    } catch (err) {
      await consumer.disconnect().catch(() => undefined);
      throw err;
    }
    return self;
  }

  /** Alerts of one process (the load generator's pid). */
  of(pid: number): ReceivedAlert[] {
    return this.alerts.filter((a) => a.pid === pid);
  }

  /**
   * Resolves once `pid` has `expected` alerts, or when none came for `quietMs` (some events were lost), or at
   * `timeoutMs`; with the count received.
   */
  async countWhenSettled(pid: number, expected: number, quietMs: number, timeoutMs: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    let last = -1;
    let lastChange = Date.now();
    for (;;) {
      const n = this.alerts.reduce((s, a) => s + (a.pid === pid ? 1 : 0), 0);
      if (n !== last) { last = n; lastChange = Date.now(); }
      if (n >= expected || Date.now() - lastChange >= quietMs || Date.now() >= deadline) return n;
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, 100);
        this.listeners.add(done);
        const listeners = this.listeners;
        function done(): void { clearTimeout(t); listeners.delete(done); resolve(); }
      });
    }
  }

  async stop(): Promise<void> {
    await this.consumer.disconnect();
  }
}
