/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The in-kernel filter: per-binary (comm) and per-path-prefix actions, read from maps that userspace rewrites
 * while the programs stay attached. An empty filter costs one array lookup (pal_filter_state) per hook.
 *
 * Userspace rewrites entries one at a time and writes pal_filter_state last (counts shrink first, grow last), so a
 * program sees for an instant a mix of old and new entries, never a count that covers unwritten slots. An ARRAY
 * slot is copied without a lock, so a program racing with its rewrite may match against a torn prefix once.
 */
#ifndef PALISADE_FILTER_BPF_H
#define PALISADE_FILTER_BPF_H

#include "maps.bpf.h"
#include "output.bpf.h"
#include "stats.bpf.h"
#include "task.bpf.h"

#define PAL_SIGKILL 9

static __always_inline struct pal_filter_state *filter__state(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&pal_filter_state, &zero);
}

/* Actions configured for the current task's comm; 0 when none or the comm map is empty. */
static __always_inline __u32 filter__comm_actions(void)
{
	struct pal_filter_state *st = filter__state();
	struct pal_filter_comm_key key = {};
	struct pal_filter_comm_value *v;

	if (!st || st->comm_count == 0)
		return 0;
	/* bpf_get_current_comm pads with NULs (strscpy_pad), and key starts zeroed anyway: the key is exact. */
	if (bpf_get_current_comm(key.comm, sizeof(key.comm)) < 0)
		return 0;
	v = bpf_map_lookup_elem(&pal_filter_comm, &key);
	return v ? v->actions : 0;
}

/* For hooks that emit at once: true (and counted) when the current task's events are dropped. */
static __always_inline bool filter__drop_current(void)
{
	if (filter__comm_actions() & PAL_ACTION_DROP) {
		stats__inc(PAL_STAT_FILTERED);
		return true;
	}
	return false;
}

/*
 * Union of the actions of every prefix slot that `path` (NUL-terminated, PAL_PATH_MAX buffer) starts with; 0 if
 * none. A union, not first-match: a DROP on /tmp must not shadow a SIGKILL on /tmp/x. *rule gets the first slot
 * with SIGKILL, else the first that matched. Bounded loops: PAL_FILTER_PREFIXES x PAL_FILTER_PREFIX_MAX byte
 * compares at worst; a mismatch usually ends a slot on its first bytes.
 */
static __always_inline __u32 filter__path_actions(const char *path, __u32 prefix_count, __u32 *rule)
{
	__u32 all = 0;

	for (__u32 i = 0; i < PAL_FILTER_PREFIXES; i++) {
		struct pal_filter_prefix *p;
		__u32 key = i, len, j;
		bool match = true;

		if (i >= prefix_count)
			break;
		p = bpf_map_lookup_elem(&pal_filter_prefix, &key);
		if (!p)
			break;
		len = p->len;
		if (len == 0 || len > PAL_FILTER_PREFIX_MAX)
			continue;
		for (j = 0; j < PAL_FILTER_PREFIX_MAX; j++) {
			if (j >= len)
				break;
			if (p->prefix[j] != path[j]) {
				match = false;
				break;
			}
		}
		if (!match)
			continue;
		if (all == 0 || ((p->actions & PAL_ACTION_SIGKILL) && !(all & PAL_ACTION_SIGKILL)))
			*rule = i;
		all |= p->actions;
	}
	return all;
}

/*
 * Kills the current process (the whole thread group) and reports it: always in PAL_STAT_KILLED, and as a
 * PAL_EVENT_PROCESS_KILL record when userspace asked for those. `ev` is the scratch kill record whose path and
 * path_len the caller has already filled. The signal is queued now and acted on when the task returns to user
 * mode: a tracepoint cannot make the syscall fail, so the syscall itself still runs (see bpf/README.md).
 * False when the signal could not be sent (counted): the caller carries on as if no filter had matched.
 */
static __always_inline bool filter__kill(void *ctx, struct pal_process_kill_event *ev, __u16 reason, __u16 syscall,
					 __u32 rule, __u16 late, __u32 flags)
{
	__u32 len = ev->path_len;

	if (bpf_send_signal(PAL_SIGKILL) < 0) {
		stats__inc(PAL_STAT_KILL_FAILED);
		return false;
	}
	stats__inc(PAL_STAT_KILLED);
	if (!(flags & PAL_FILTER_EMIT_KILL_EVENTS))
		return true;
	ev->signal = PAL_SIGKILL;
	ev->reason = reason;
	ev->syscall = syscall;
	ev->rule = rule;
	ev->late = late;
	if (len < 1 || len > PAL_PATH_MAX)
		len = 1;
	task__fill_header(&ev->hdr, PAL_EVENT_PROCESS_KILL, offsetof(struct pal_process_kill_event, path) + len);
	output__submit(ctx, ev, offsetof(struct pal_process_kill_event, path) + len);
	return true;
}

#endif /* PALISADE_FILTER_BPF_H */
