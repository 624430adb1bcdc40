/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The in-kernel filter: event kinds, per-executable (path, exact or prefix: exe.bpf.h), per-comm (exact or prefix), per-cgroup, per-destination-port and
 * per-path-prefix actions, read from maps that userspace rewrites while the programs stay attached. An empty filter
 * costs one array lookup (pal_filter_state) per hook.
 *
 * Order of the checks in filter__drop(kind): the kind mask, the executable (exact path, else prefix), the exact
 * comm, the comm prefixes, the cgroup (the
 * task's own, else its deepest listed ancestor); then, in their hooks, the destination port (filter__drop_port) and
 * the open's path prefixes. The first selector whose action is DROP drops the event (PAL_STAT_FILTERED); a POST
 * with a rate id spends a token of its (rate id, tgid) bucket and drops the event when there is none
 * (PAL_STAT_RATE_LIMITED).
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
#include "exe.bpf.h"

#define PAL_SIGKILL 9

/*
 * The filter maps beyond comm/prefix/state. Declared here rather than in maps.bpf.h only because that file has
 * another owner this round; same __weak rule (identical definitions merge at link time).
 *
 *   map                     type             key -> value                        why
 *   pal_filter_comm_prefix  ARRAY[8]         slot -> pal_filter_comm_prefix      binary-name prefixes + actions
 *   pal_filter_cgroup       HASH[1024]       cgroup v2 id -> pal_filter_value    by cgroup (or ancestor cgroup)
 *   pal_filter_port         HASH[1024]       u32 port -> pal_filter_value        net_connect destination port
 *   pal_filter_rate         ARRAY[65]        rate id -> pal_filter_rate          token bucket shapes (slot 0 unused)
 *   pal_filter_bucket       LRU_HASH[16384]  (rate id, tgid) -> pal_filter_bucket  the buckets; LRU so exited
 *                                                                                processes' buckets age out
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PAL_FILTER_COMM_PREFIXES);
	__type(key, __u32);
	__type(value, struct pal_filter_comm_prefix);
} pal_filter_comm_prefix SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PAL_FILTER_CGROUP_ENTRIES);
	__type(key, __u64);
	__type(value, struct pal_filter_value);
} pal_filter_cgroup SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PAL_FILTER_PORT_ENTRIES);
	__type(key, __u32);
	__type(value, struct pal_filter_value);
} pal_filter_port SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PAL_FILTER_RATES + 1);
	__type(key, __u32);
	__type(value, struct pal_filter_rate);
} pal_filter_rate SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, PAL_FILTER_RATE_BUCKETS);
	__type(key, struct pal_filter_bucket_key);
	__type(value, struct pal_filter_bucket);
} pal_filter_bucket SEC(".maps") __weak;

static __always_inline struct pal_filter_state *filter__state(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&pal_filter_state, &zero);
}

/* True when a selector narrowed to `kinds` applies to an event of `kind`; kind 0 (unknown) meets only kinds == 0. */
static __always_inline bool filter__kind_in(__u64 kinds, __u32 kind)
{
	if (kinds == 0)
		return true;
	return kind != 0 && kind < PAL_FILTER_KINDS && (kinds & (1ULL << kind));
}

/*
 * Spends one event's cost from the (rate, tgid) token bucket; false when the bucket is empty (counted). A new
 * bucket starts full. Buckets on two CPUs for the same process can race (read-modify-write without a lock): the
 * worst case is a few events over the limit, which a rate limit can afford and a spin lock per event cannot.
 */
static __always_inline bool filter__rate_ok(__u32 rate)
{
	struct pal_filter_bucket_key key = {};
	struct pal_filter_rate *cfg;
	struct pal_filter_bucket *b;
	__u64 now, credit;

	if (rate == 0 || rate > PAL_FILTER_RATES)
		return true;
	cfg = bpf_map_lookup_elem(&pal_filter_rate, &rate);
	if (!cfg || cfg->cost_ns == 0)
		return true;
	key.rate = rate;
	key.tgid = bpf_get_current_pid_tgid() >> 32;
	now = bpf_ktime_get_ns();
	b = bpf_map_lookup_elem(&pal_filter_bucket, &key);
	if (!b) {
		struct pal_filter_bucket fresh = {
			.credit_ns = cfg->burst_ns > cfg->cost_ns ? cfg->burst_ns - cfg->cost_ns : 0,
			.last_ns = now,
		};

		bpf_map_update_elem(&pal_filter_bucket, &key, &fresh, BPF_ANY);
		return true;
	}
	credit = b->credit_ns + (now > b->last_ns ? now - b->last_ns : 0);
	if (credit > cfg->burst_ns)
		credit = cfg->burst_ns;
	b->last_ns = now;
	if (credit < cfg->cost_ns) {
		b->credit_ns = credit;
		stats__inc(PAL_STAT_RATE_LIMITED);
		return false;
	}
	b->credit_ns = credit - cfg->cost_ns;
	return true;
}

/* One matched selector's verdict for an event of `kind`: true (and counted) when the event is dropped. */
static __always_inline bool filter__apply(__u32 actions, __u32 rate, __u64 kinds, __u32 kind)
{
	if (!filter__kind_in(kinds, kind))
		return false;
	if (actions & PAL_ACTION_DROP) {
		stats__inc(PAL_STAT_FILTERED);
		return true;
	}
	if ((actions & PAL_ACTION_POST) && rate != 0)
		return !filter__rate_ok(rate);
	return false;
}

/* The first comm-prefix slot `comm` starts with, or NULL. At most PAL_FILTER_COMM_PREFIXES x 15 byte compares. */
static __always_inline struct pal_filter_comm_prefix *filter__comm_prefix(const char *comm, __u32 count)
{
	for (__u32 i = 0; i < PAL_FILTER_COMM_PREFIXES; i++) {
		struct pal_filter_comm_prefix *p;
		__u32 key = i, len, j;
		bool match = true;

		if (i >= count)
			break;
		p = bpf_map_lookup_elem(&pal_filter_comm_prefix, &key);
		if (!p)
			break;
		len = p->len;
		if (len == 0 || len >= PAL_COMM_LEN)
			continue;
		for (j = 0; j < PAL_COMM_LEN - 1; j++) {
			if (j >= len)
				break;
			if (p->prefix[j] != comm[j]) {
				match = false;
				break;
			}
		}
		if (match)
			return p;
	}
	return NULL;
}

/* The binary selectors that matched the current task: its executable's (exe_*: an exact path entry, else the first
 * matching path prefix) and its comm's (an exact comm entry, else the first matching comm prefix). */
struct filter__comm_sel {
	__u32 actions;
	__u32 rate;
	__u64 kinds;
	__u32 exe_actions;
	__u32 exe_rate;
	__u64 exe_kinds;
	bool exe_found;
	bool comm_found;
};

/* The comm half of filter__comm_find. */
static __always_inline bool filter__comm_only(struct pal_filter_state *st, struct filter__comm_sel *m)
{
	struct pal_filter_comm_key key = {};
	struct pal_filter_comm_value *v = NULL;
	struct pal_filter_comm_prefix *p;

	if (st->comm_count == 0 && st->comm_prefix_count == 0)
		return false;
	/* bpf_get_current_comm pads with NULs (strscpy_pad), and key starts zeroed anyway: the key is exact. */
	if (bpf_get_current_comm(key.comm, sizeof(key.comm)) < 0)
		return false;
	if (st->comm_count != 0)
		v = bpf_map_lookup_elem(&pal_filter_comm, &key);
	if (v) {
		m->actions = v->actions;
		m->rate = v->rate;
		m->kinds = v->kinds;
		return true;
	}
	if (st->comm_prefix_count == 0)
		return false;
	p = filter__comm_prefix(key.comm, st->comm_prefix_count);
	if (!p)
		return false;
	m->actions = p->actions;
	m->rate = p->rate;
	m->kinds = p->kinds;
	return true;
}

/* Finds the current task's binary selectors (executable and comm); false when neither matched. With no exe and no
 * comm selector in the filter this costs nothing but the state's counts. */
static __always_inline bool filter__comm_find(struct pal_filter_state *st, struct filter__comm_sel *m)
{
	if (exe__wanted(st)) {
		struct pal_exe_cache *c = exe__current(st);

		if (c && c->found) {
			m->exe_found = true;
			m->exe_actions = c->actions;
			m->exe_rate = c->rate;
			m->exe_kinds = c->kinds;
		}
	}
	m->comm_found = filter__comm_only(st, m);
	return m->exe_found || m->comm_found;
}

/* A found selector's actions as they apply to an event of `kind`: a DROP/POST narrowed to other kinds is left out
 * (a SIGKILL is not: it acts on the syscall, whatever kind the policy narrowed the reporting to). The union of the
 * executable's and the comm's selectors. */
static __always_inline __u32 filter__comm_actions_for(const struct filter__comm_sel *m, __u32 kind)
{
	__u32 a = 0;

	if (m->exe_found)
		a |= filter__kind_in(m->exe_kinds, kind) ? m->exe_actions : m->exe_actions & PAL_ACTION_SIGKILL;
	if (m->comm_found)
		a |= filter__kind_in(m->kinds, kind) ? m->actions : m->actions & PAL_ACTION_SIGKILL;
	return a;
}

/* The kill reason a binary SIGKILL reports: the executable's selector when it has one, else the comm's. */
static __always_inline __u16 filter__comm_kill_reason(const struct filter__comm_sel *m)
{
	return m->exe_found && (m->exe_actions & PAL_ACTION_SIGKILL) ? PAL_KILL_REASON_EXE : PAL_KILL_REASON_BINARY;
}

/*
 * The cgroup selector's verdict. The task's own cgroup v2 entry wins; else the deepest listed ancestor (a pod's
 * cgroup holds its containers' cgroups, so a selector on the pod covers them). Walks at most
 * PAL_FILTER_CGROUP_DEPTH levels, only when the cgroup map is not empty.
 */
static __always_inline bool filter__drop_cgroup(struct pal_filter_state *st, __u32 kind)
{
	__u64 id = bpf_get_current_cgroup_id();
	struct pal_filter_value *v = bpf_map_lookup_elem(&pal_filter_cgroup, &id);

	if (!v) {
		for (int level = 0; level < PAL_FILTER_CGROUP_DEPTH; level++) {
			__u64 anc = bpf_get_current_ancestor_cgroup_id(level);
			struct pal_filter_value *w;

			if (anc == 0)
				break;
			w = bpf_map_lookup_elem(&pal_filter_cgroup, &anc);
			if (w)
				v = w;
		}
	}
	if (st->cgroup_only && (!v || !(v->actions & PAL_ACTION_LISTED))) {
		stats__inc(PAL_STAT_FILTERED);
		return true;
	}
	return v && filter__apply(v->actions, v->rate, v->kinds, kind);
}

/* True (and counted) when the kind mask drops every event of `kind`. */
static __always_inline bool filter__kind_masked(struct pal_filter_state *st, __u32 kind)
{
	if (kind != 0 && kind < PAL_FILTER_KINDS && (st->kinds_dropped & (1ULL << kind))) {
		stats__inc(PAL_STAT_FILTERED);
		return true;
	}
	return false;
}

/* filter__drop after the kind mask, with the binary selector already looked up (found = filter__comm_find). */
static __always_inline bool filter__drop_selected(struct pal_filter_state *st, __u32 kind, bool found,
						  const struct filter__comm_sel *m)
{
	if (found && m->exe_found && filter__apply(m->exe_actions, m->exe_rate, m->exe_kinds, kind))
		return true;
	if (found && m->comm_found && filter__apply(m->actions, m->rate, m->kinds, kind))
		return true;
	if (st->cgroup_count != 0 || st->cgroup_only)
		return filter__drop_cgroup(st, kind);
	return false;
}

/*
 * For hooks that emit at once: true (and counted) when the current task's event of `kind` is dropped by the kind
 * mask, a binary (exact or prefix) selector or a cgroup selector. kind 0 means "not known here": the kind mask and
 * selectors narrowed to some kinds are then skipped.
 */
static __always_inline bool filter__drop(__u32 kind)
{
	struct pal_filter_state *st = filter__state();
	struct filter__comm_sel m = {};
	bool found;

	if (!st)
		return false;
	if (filter__kind_masked(st, kind))
		return true;
	found = filter__comm_find(st, &m);
	return filter__drop_selected(st, kind, found, &m);
}

/* filter__drop for hooks that do not pass their kind: binary and cgroup selectors not narrowed to kinds. */
static __always_inline bool filter__drop_current(void)
{
	return filter__drop(0);
}

/* net_connect: the destination port selector (host byte order). True (and counted) when the connect is dropped. */
static __always_inline bool filter__drop_port(__u16 port)
{
	struct pal_filter_state *st = filter__state();
	struct pal_filter_value *v;
	__u32 key = port;

	if (!st || st->port_count == 0)
		return false;
	v = bpf_map_lookup_elem(&pal_filter_port, &key);
	return v && filter__apply(v->actions, v->rate, v->kinds, PAL_EVENT_NET_CONNECT);
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
