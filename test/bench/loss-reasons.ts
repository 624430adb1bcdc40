// Which counters mean "an event was lost": the product's own definition (the ABI registry's loss rows and the
// collector's reasons, LOSS_SOURCES), so the bench and the product agree.
import { LOSS_SOURCES } from '@palisade/common';
import { KERNEL_LOSS_COUNTERS } from '@palisade/collector';

export { KERNEL_LOSS_COUNTERS };

/** reason labels of palisade_collector_lost_events_total that are real drops: the kernel's, plus the collector's own. */
export const COLLECTOR_LOSS_REASONS: readonly string[] = [...LOSS_SOURCES];
