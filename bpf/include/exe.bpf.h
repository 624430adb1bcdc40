/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Each process' executable, by path: the TracingPolicy's `binaries` (exact) and `binaryPrefixes` selectors match
 * the file the process runs (mm->exe_file, walked to the task's root like every resolved path), not its comm, which
 * the process can set itself (prctl(PR_SET_NAME), /proc/self/comm).
 *
 *   map                    type              key -> value                      why
 *   pal_filter_exe         HASH[1024]        pal_filter_exe_key -> pal_filter_value   exact executable paths
 *   pal_filter_exe_prefix  ARRAY[8]          slot -> pal_filter_exe_prefix     executable path prefixes
 *   pal_exe_cache          LRU_HASH[8192]    tgid -> pal_exe_cache             the thread group's executable path and
 *                                                                              the exe selector it matched
 *
 * Why an LRU hash keyed by tgid, not task storage: the executable belongs to the thread group (one mm), and task
 * storage is per thread, so every thread would walk and keep its own copy of the same path; reaching the group
 * leader's storage instead means passing a walked task pointer to bpf_task_storage_get, which newer verifiers refuse
 * (it wants a trusted pointer). The LRU bounds the memory with no exit hook: an exited process' entry ages out. A
 * reused tgid, an exec, or prctl(PR_SET_MM_EXE_FILE) cannot hit a stale entry: each entry records the group
 * leader's start_time and the mm->exe_file pointer it was made from, and a mismatch refills it.
 *
 * Cost: nothing at all while the filter has no exe selector (exe_count + exe_prefix_count == 0: the hooks do not
 * look). With one, every filtered event pays one LRU lookup and three loads; the path walk and the selector lookups
 * run once per process (at its exec, or lazily for processes older than the collector or the policy), and again
 * only when setFilter() changes the generation (exe_gen), and then without the walk.
 */
#ifndef PALISADE_EXE_BPF_H
#define PALISADE_EXE_BPF_H

#include "maps.bpf.h"
#include "stats.bpf.h"
#include "task.bpf.h"

/* Kernel-only. `path` is NUL-padded to PAL_PATH_MAX, so it is a pal_filter_exe key as it stands. */
struct pal_exe_cache {
	__u64 start_time;    /* group_leader->start_time: a reused tgid is another process */
	__u64 exe_file;      /* the mm->exe_file pointer the path was read from: an exec replaces it */
	__u32 gen;           /* pal_filter_state.exe_gen the verdict below was taken under */
	__u32 found;         /* 1: an exe selector matched (actions/rate/kinds are its own) */
	__u32 actions;
	__u32 rate;
	__u64 kinds;
	__u8 path_flags;     /* PAL_PATH_* of the walk */
	__u8 _pad0[7];
	struct pal_filter_exe_key path;
};

_Static_assert(sizeof(struct pal_exe_cache) <= 512, "an entry is built in the upper half of pal_path_buf");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PAL_FILTER_EXE_ENTRIES);
	__type(key, struct pal_filter_exe_key);
	__type(value, struct pal_filter_value);
} pal_filter_exe SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PAL_FILTER_EXE_PREFIXES);
	__type(key, __u32);
	__type(value, struct pal_filter_exe_prefix);
} pal_filter_exe_prefix SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, PAL_EXE_CACHE_ENTRIES);
	__type(key, __u32);
	__type(value, struct pal_exe_cache);
} pal_exe_cache SEC(".maps") __weak;

/* True when the filter has an exe selector: the only case in which anything below runs. */
static __always_inline bool exe__wanted(const struct pal_filter_state *st)
{
	return (st->exe_count | st->exe_prefix_count) != 0;
}

/* The first exe prefix slot `path` starts with, or NULL. At most PAL_FILTER_EXE_PREFIXES x 64 byte compares. */
static __always_inline struct pal_filter_exe_prefix *exe__prefix(const char *path, __u32 count)
{
	for (__u32 i = 0; i < PAL_FILTER_EXE_PREFIXES; i++) {
		struct pal_filter_exe_prefix *p;
		__u32 key = i, len, j;
		bool match = true;

		if (i >= count)
			break;
		p = bpf_map_lookup_elem(&pal_filter_exe_prefix, &key);
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
		if (match)
			return p;
	}
	return NULL;
}

/* The entry's verdict under the filter in force: the exact path first, else the first matching prefix. A truncated
 * path (it starts with "...") matches no absolute selector, like a truncated open path. */
static __always_inline void exe__match(const struct pal_filter_state *st, struct pal_exe_cache *c)
{
	struct pal_filter_value *v = NULL;
	struct pal_filter_exe_prefix *p;

	c->gen = st->exe_gen;
	c->found = 0;
	c->actions = 0;
	c->rate = 0;
	c->kinds = 0;
	if (c->path.path[0] != '/')
		return;
	if (st->exe_count != 0)
		v = bpf_map_lookup_elem(&pal_filter_exe, &c->path);
	if (v) {
		c->found = 1;
		c->actions = v->actions;
		c->rate = v->rate;
		c->kinds = v->kinds;
		return;
	}
	if (st->exe_prefix_count == 0)
		return;
	p = exe__prefix(c->path.path, st->exe_prefix_count);
	if (!p)
		return;
	c->found = 1;
	c->actions = p->actions;
	c->rate = p->rate;
	c->kinds = p->kinds;
}

/*
 * Walks `file`'s path (to the current task's root) into a fresh cache entry for the current thread group, takes
 * its verdict and stores it. The entry is built in the upper half of pal_path_buf (the walk uses the lower half),
 * so nothing of it touches the 512-byte stack. Returns the stored entry, or NULL (counted) when it could not be.
 */
static __always_inline struct pal_exe_cache *exe__fill(const struct pal_filter_state *st, struct file *file,
							 __u64 start_time, __u32 tgid)
{
	struct pal_path_buf *pb = task__path_buf();
	struct pal_exe_cache *c;
	struct path fp;
	__u8 pflags = 0;
	int pos;

	if (!pb || !file)
		return NULL;
	c = (struct pal_exe_cache *)&pb->buf[512];
	__builtin_memset(c, 0, sizeof(*c));
	c->start_time = start_time;
	c->exe_file = (__u64)file;
	if (stats__check_read(bpf_probe_read_kernel(&fp, sizeof(fp), &file->f_path), PAL_STAT_READ_KERNEL_FAILED) < 0)
		return NULL;
	pos = task__resolve_build(&fp, pb, &pflags);
	if (pos < 0)
		return NULL;
	c->path_flags = pflags;
	if (pos == 511) {
		c->path.path[0] = '/';
	} else if (bpf_probe_read_kernel_str(c->path.path, PAL_PATH_MAX, &pb->buf[pos & 511]) <= 0) {
		return NULL;
	}
	exe__match(st, c);
	if (bpf_map_update_elem(&pal_exe_cache, &tgid, c, BPF_ANY) < 0) {
		stats__inc(PAL_STAT_STASH_UPDATE_FAILED);
		return NULL;
	}
	return bpf_map_lookup_elem(&pal_exe_cache, &tgid);
}

/*
 * The current thread group's cache entry, fresh for its executable and for the filter in force: filled lazily from
 * current->mm->exe_file on a miss (a process older than the collector or than the policy, or a new tgid after
 * fork), verdict redone when the filter changed. NULL for a kernel thread or on failure.
 */
static __always_inline struct pal_exe_cache *exe__current(const struct pal_filter_state *st)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct mm_struct *mm = task->mm;
	struct pal_exe_cache *c;
	struct file *file;
	__u64 start;

	start = task->group_leader->start_time;
	c = bpf_map_lookup_elem(&pal_exe_cache, &tgid);
	/* No mm: a kernel thread (never has an entry), or a process past exit_mm (its exit event on kernels that
	 * trace sched_process_exit after it, e.g. 6.1): the entry it had is still its executable. */
	file = mm ? BPF_CORE_READ(mm, exe_file) : NULL;
	if (c && c->start_time == start && (!mm || c->exe_file == (__u64)file)) {
		if (c->gen != st->exe_gen)
			exe__match(st, c);
		return c;
	}
	if (!mm)
		return NULL;
	return exe__fill(st, file, start, tgid);
}

/*
 * sched_process_exec: bprm->file is the new executable (mm->exe_file already points at it), and the exec event is
 * the first of the new image, so its entry is made here rather than at the first lookup. Only with exe selectors.
 */
static __always_inline void exe__exec(const struct pal_filter_state *st, struct linux_binprm *bprm)
{
	struct task_struct *task = bpf_get_current_task_btf();

	if (!st || !exe__wanted(st))
		return;
	exe__fill(st, BPF_CORE_READ(bprm, file), task->group_leader->start_time, bpf_get_current_pid_tgid() >> 32);
}

/* The resolved path of `task`'s executable (task->mm->exe_file) into out[PAL_PATH_MAX]; the length with the NUL, or
 * -1 (out = ""). For events that carry the exe whatever the filter says (process_rename: rare, so walked each time). */
static __always_inline int exe__path_of(struct task_struct *task, char *out, __u8 *pflags)
{
	struct file *file = BPF_CORE_READ(task, mm, exe_file);
	struct path fp;

	out[0] = '\0';
	*pflags = 0;
	if (!file || stats__check_read(bpf_probe_read_kernel(&fp, sizeof(fp), &file->f_path),
				       PAL_STAT_READ_KERNEL_FAILED) < 0)
		return -1;
	return task__resolve(&fp, out, pflags);
}

#endif /* PALISADE_EXE_BPF_H */
