// The lookups every stage derives from the ABI registry (gen/abi.ts), derived once here.
import { ABI, type EventKindName } from './gen/abi.js';

/** Event kind id -> its registry name (the Rego `kind`, the RawEvent field, the metric label). */
export const KIND_NAME_BY_ID: ReadonlyMap<number, EventKindName> = new Map(ABI.kinds.map((k) => [k.id, k.name]));

/** Registry name -> event kind id (what a TracingPolicy's `kinds` may name). */
export const KIND_ID_BY_NAME: Readonly<Record<string, number>> = Object.fromEntries(ABI.kinds.map((k) => [k.name, k.id]));

/** The kernel and addon counters that mean "an event was dropped" (the registry rows marked as a loss). */
export const KERNEL_LOSS_COUNTERS: readonly string[] = ABI.stats.filter((s) => s.loss).map((s) => s.name);
