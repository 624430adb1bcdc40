/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef PALISADE_OUTPUT_BPF_H
#define PALISADE_OUTPUT_BPF_H

#include "maps.bpf.h"
#include "stats.bpf.h"

/*
 * The per-CPU scratch event. Two programs can interleave on one CPU only if a tracing program is preempted
 * (PREEMPT_RT, or migrate_disable()-only kernels); the worst case is one garbled record, which the size checks
 * in userspace reject. Tetragon and Falco make the same trade.
 */
static __always_inline union pal_scratch *output__scratch(void)
{
	__u32 zero = 0;
	union pal_scratch *s = bpf_map_lookup_elem(&pal_scratch, &zero);

	if (!s)
		stats__inc(PAL_STAT_SCRATCH_MISSING);
	return s;
}

/* This CPU's ring. The shard count is read-only config, so the modulo is cheap and the mapping never changes. */
static __always_inline void *output__ring(void)
{
	__u32 shards = pal_cfg.ring_shards;
	__u32 shard = bpf_get_smp_processor_id();
	void *ring;

	if (shards > 1)
		shard %= shards;
	else
		shard = 0;
	ring = bpf_map_lookup_elem(&pal_rings, &shard);
	if (!ring)
		stats__inc(PAL_STAT_RINGBUF_SHARD_MISSING);
	return ring;
}

/*
 * Hands one finished record to userspace through the buffer chosen at load time. The ring buffer is not told to
 * wake the reader per record (epoll wakeups per event cost more than the event): only once more than
 * pal_cfg.wakeup_bytes are waiting in this CPU's shard. The addon also drains on a short timer, which bounds latency.
 */
static __always_inline void output__submit(void *ctx, void *data, __u32 size)
{
	/* The verifier needs a provable bound on the size it reads out of the scratch value. */
	if (size > sizeof(union pal_scratch) || size < sizeof(struct pal_event_header))
		return;

	if (pal_cfg.output_mode == PAL_OUTPUT_PERFBUF) {
		if (bpf_perf_event_output(ctx, &pal_perf_events, BPF_F_CURRENT_CPU, data, size) < 0) {
			stats__inc(PAL_STAT_PERFBUF_OUTPUT_FAILED);
			return;
		}
	} else {
		void *ring = output__ring();
		__u64 flags;

		if (!ring)
			return;
		flags = bpf_ringbuf_query(ring, BPF_RB_AVAIL_DATA) >= pal_cfg.wakeup_bytes ? BPF_RB_FORCE_WAKEUP :
											      BPF_RB_NO_WAKEUP;
		if (bpf_ringbuf_output(ring, data, size, flags) < 0) {
			stats__inc(PAL_STAT_RINGBUF_OUTPUT_FAILED);
			return;
		}
	}
	stats__inc(PAL_STAT_EVENTS_EMITTED);
}

#endif /* PALISADE_OUTPUT_BPF_H */
