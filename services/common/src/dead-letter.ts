// Dead letters are references, not copies: where the record was (topic, partition, offset), what it was (sha256 and
// length of the value, its first 4 KiB), and why. So a dead letter always fits where the record did not, and one
// bad record near the size limit cannot make its own dead letter unsendable.
//
// Sending them can never stop a stage: a batch's dead letters go out in sends bounded by bytes, each retried; what
// still cannot be sent is counted (palisade_deadletters_failed_total) and logged with its reference, and the stage
// goes on. The record itself is then only in the source topic, at the logged offset.
import { createHash } from 'node:crypto';
import type { OutgoingMessage, Producer } from './bus.js';
import { TOPICS, recordBytes } from './bus.js';
import { errorCode, errorMessage } from './errors.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';
import { pb } from './proto.js';
import { chunkBySize } from './record-splitter.js';
import { withRetry } from './retry.js';

export const DEAD_LETTER_HEAD_BYTES = 4096;
const KEY_BYTES = 256;
const REASON_CHARS = 1024;
/** Dead letters logged one by one when they cannot be sent; the rest are in the summary line. */
const LOGGED_REFERENCES = 20;

/** Why a record is a dead letter; the metric label values, a fixed set. */
export type DeadLetterCause = 'invalid' | 'oversize' | 'unprocessable' | 'retry_exhausted';

export interface DeadLetterInput {
  cause: DeadLetterCause;
  /** The topic the record came from; for an output that could not be published, the output topic. */
  sourceTopic: string;
  /** -1 and '' for an output that was never published. */
  partition: number;
  offset: string;
  key: Buffer | string | null;
  value: Uint8Array;
  reason: string;
}

const CAUSES: Record<DeadLetterCause, number> = {
  invalid: pb.DeadLetterCause.DEAD_LETTER_CAUSE_INVALID,
  oversize: pb.DeadLetterCause.DEAD_LETTER_CAUSE_OVERSIZE,
  unprocessable: pb.DeadLetterCause.DEAD_LETTER_CAUSE_UNPROCESSABLE,
  retry_exhausted: pb.DeadLetterCause.DEAD_LETTER_CAUSE_RETRY_EXHAUSTED,
};

function head(bytes: Uint8Array, max: number): Uint8Array {
  return bytes.byteLength <= max ? bytes : bytes.subarray(0, max);
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The bounded DeadLetter record for one record (at most ~5.5 KiB whatever the input). */
export function buildDeadLetter(stage: string, d: DeadLetterInput, headBytes = DEAD_LETTER_HEAD_BYTES): OutgoingMessage {
  const key = d.key === null ? Buffer.alloc(0) : typeof d.key === 'string' ? Buffer.from(d.key) : d.key;
  const value = pb.DeadLetter.encode({
    sourceTopic: d.sourceTopic.slice(0, 256), partition: d.partition, offset: d.offset,
    key: head(key, KEY_BYTES), value: head(d.value, headBytes), reason: d.reason.slice(0, REASON_CHARS), stage,
    timeUnixNano: Date.now() * 1e6, valueLength: d.value.byteLength,
    valueSha256: createHash('sha256').update(d.value).digest(), valueTruncated: d.value.byteLength > headBytes,
    cause: CAUSES[d.cause],
  }).finish();
  return { key: d.sourceTopic, value, headers: { 'palisade-schema': 'palisade.v1.DeadLetter' } };
}

export interface DeadLetterSenderOptions {
  stage: string;
  producer: Producer;
  metrics: Metrics;
  logger: Logger;
  /** The dead-letter topic's max.message.bytes (Bus.maxMessageBytes). */
  maxMessageBytes: number;
  /** Attempts per bounded send. Default 3. */
  attempts?: number;
  retryBaseMs?: number;
}

export class DeadLetterSender {
  private readonly budget: number;
  private readonly headBytes: number;
  private readonly m;
  private readonly log: Logger;

  constructor(private readonly opts: DeadLetterSenderOptions) {
    // Room for a record batch's own header; the head shrinks only on a topic that takes less than ~8 KiB.
    this.budget = Math.max(1024, opts.maxMessageBytes - 1024);
    this.headBytes = Math.max(0, Math.min(DEAD_LETTER_HEAD_BYTES, this.budget - 2048));
    this.log = opts.logger.child({ module: 'dead-letter' });
    this.m = {
      sent: opts.metrics.counter('palisade_deadletters_total', 'Dead letters published, by cause (invalid, oversize, unprocessable, retry_exhausted).',
        ['stage', 'cause']),
      failed: opts.metrics.counter('palisade_deadletters_failed_total',
        'Dead letters that could not be published after retries (logged with their reference), by cause.', ['stage', 'cause']),
    };
  }

  /** Publishes the dead letters; never throws. Resolves to how many could not be published (0: all were). */
  async send(letters: DeadLetterInput[]): Promise<number> {
    if (letters.length === 0) return 0;
    const built = letters.map((d) => ({ d, msg: buildDeadLetter(this.opts.stage, d, this.headBytes) }));
    const failed: DeadLetterInput[] = [];
    let lastError: unknown;
    for (const chunk of chunkBySize(built, (b) => recordBytes(b.msg), this.budget)) {
      try {
        await withRetry(() => this.opts.producer.send(TOPICS.deadLetter, chunk.map((b) => b.msg)), {
          attempts: this.opts.attempts ?? 3, baseMs: this.opts.retryBaseMs ?? 200, maxMs: 2_000,
          // Retried whatever the error: a dead letter is bounded, so even a non-retriable one is worth another try.
          retryIf: () => true,
        });
        for (const b of chunk) this.m.sent.inc({ stage: this.opts.stage, cause: b.d.cause });
      } catch (err) {
        lastError = err;
        for (const b of chunk) { failed.push(b.d); this.m.failed.inc({ stage: this.opts.stage, cause: b.d.cause }); }
      }
    }
    if (failed.length === 0) return 0;
    for (const d of failed.slice(0, LOGGED_REFERENCES)) {
      this.log.error('dead letter not published; the record is only at its source', {
        cause: d.cause, topic: d.sourceTopic, partition: d.partition, offset: d.offset,
        bytes: d.value.byteLength, sha256: sha256Hex(d.value), reason: d.reason.slice(0, 200),
      });
    }
    this.log.error('dead letters not published', {
      count: failed.length, logged: Math.min(failed.length, LOGGED_REFERENCES),
      first: { topic: failed[0]?.sourceTopic, offset: failed[0]?.offset },
      last: { topic: failed[failed.length - 1]?.sourceTopic, offset: failed[failed.length - 1]?.offset },
      code: errorCode(lastError), error: errorMessage(lastError),
    });
    return failed.length;
  }
}
