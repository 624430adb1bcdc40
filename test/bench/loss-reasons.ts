// Which counters mean "an event was lost": the collector's own definition, so the bench and the product agree.
import { KERNEL_LOSS_COUNTERS } from '@palisade/collector';

export { KERNEL_LOSS_COUNTERS };

/** reason labels of palisade_collector_lost_events_total that are real drops: the kernel's, plus the collector's own. */
export const COLLECTOR_LOSS_REASONS = [...KERNEL_LOSS_COUNTERS, 'decode', 'collector_backpressure'] as const;
