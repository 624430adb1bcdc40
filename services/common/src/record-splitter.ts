// The one splitter every stage's output goes through. A batch message (RawEventBatch, EnrichedEventBatch) is a
// repeated field of items plus a few scalar fields; when its encoding is larger than a record may be, its items are
// cut into consecutive runs, each encoded as its own batch under the limit, in the original order (so one key's
// items keep their order on its partition). An item too large to fit even alone is handed back, never sent.
//
// The common case costs one encode, as before: items are measured one by one only when the whole does not fit.

export interface SplitInput<E> {
  items: readonly E[];
  /** Encodes a batch of these items (the other fields of the message fixed by the caller). */
  encode(items: E[]): Uint8Array;
  /** Encodes one item as the batch's repeated field holds it (e.g. pb.EnrichedEvent.encode). */
  encodeItem(item: E): Uint8Array;
  /** The most bytes one encoded batch may have. */
  maxBytes: number;
}

export interface SplitOutput<E> {
  /** The encoded batches, in item order; always at least one when no item is oversize (an empty batch stays one). */
  values: { value: Uint8Array; count: number }[];
  /** Items whose batch alone would exceed maxBytes, with their encoding; they are in no value. */
  oversize: { item: E; bytes: Uint8Array }[];
}

/** Bytes of a varint (protobuf length prefix). */
function varintBytes(n: number): number {
  let bytes = 1;
  while (n >= 0x80) { n = Math.floor(n / 0x80); bytes++; }
  return bytes;
}

export function splitEncoded<E>(input: SplitInput<E>): SplitOutput<E> {
  const whole = input.encode([...input.items]);
  if (whole.byteLength <= input.maxBytes) return { values: [{ value: whole, count: input.items.length }], oversize: [] };
  // A repeated message field costs, per item, its tag (one byte for field numbers under 16), the length varint and
  // the item's bytes; the rest of the message (node, seq, …) is what an empty batch encodes to.
  const base = input.encode([]).byteLength;
  const budget = input.maxBytes - base;
  const values: SplitOutput<E>['values'] = [];
  const oversize: SplitOutput<E>['oversize'] = [];
  let run: E[] = [];
  let runBytes = 0;
  const close = (): void => {
    if (run.length === 0) return;
    values.push({ value: input.encode(run), count: run.length });
    run = [];
    runBytes = 0;
  };
  for (const item of input.items) {
    const bytes = input.encodeItem(item);
    const cost = 1 + varintBytes(bytes.byteLength) + bytes.byteLength;
    if (cost > budget) { oversize.push({ item, bytes }); continue; }
    if (runBytes + cost > budget) close();
    run.push(item);
    runBytes += cost;
  }
  close();
  return { values, oversize };
}

/** Consecutive runs of items whose sizes add up to at most maxBytes each; an item larger than maxBytes runs alone. */
export function chunkBySize<E>(items: readonly E[], sizeOf: (item: E) => number, maxBytes: number): E[][] {
  const chunks: E[][] = [];
  let chunk: E[] = [];
  let bytes = 0;
  for (const item of items) {
    const size = sizeOf(item);
    if (chunk.length > 0 && bytes + size > maxBytes) { chunks.push(chunk); chunk = []; bytes = 0; }
    chunk.push(item);
    bytes += size;
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
}
