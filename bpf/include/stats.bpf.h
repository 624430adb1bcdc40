/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef PALISADE_STATS_BPF_H
#define PALISADE_STATS_BPF_H

#include "maps.bpf.h"

static __always_inline void stats__inc(enum pal_stat stat)
{
	__u32 key = stat;
	__u64 *value = bpf_map_lookup_elem(&pal_stats, &key);

	/* Per-CPU slot, so a plain increment is race-free without atomics. */
	if (value)
		*value += 1;
}

/* Wraps a probe-read result: a failed read is counted, the caller carries on with the field zeroed/empty. */
static __always_inline long stats__check_read(long err, enum pal_stat stat)
{
	if (err < 0)
		stats__inc(stat);
	return err;
}

#endif /* PALISADE_STATS_BPF_H */
