// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Hook: syscalls open/openat/openat2 enter+exit -> PAL_EVENT_FILE_OPEN (palisade.v1.FileOpen). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "palisade.h"
#include "maps.bpf.h"
#include "output.bpf.h"
#include "stats.bpf.h"
#include "task.bpf.h"
#include "filter.bpf.h"
#include "sysev.bpf.h"
#include "file_signals.bpf.h"

/* User-visible struct open_how (include/uapi/linux/openat2.h); ABI-stable, so no CO-RE needed. */
struct pal_open_how {
	__u64 flags;
	__u64 mode;
	__u64 resolve;
};

/*
 * SIGKILL filters act here, at sys_enter, so the kill is queued before the open runs. The path is read at
 * sys_enter only when a filter needs it (a binary to kill, or a path prefix with SIGKILL): reading user memory
 * here can fail on a page not yet faulted in, which is why the event itself reads it at sys_exit.
 * Returns true when the process was killed.
 */
static __always_inline bool file_open__enforce(void *ctx, struct pal_filter_state *fs, __u16 syscall,
					       const char *filename, __u32 comm_actions, __u16 comm_reason)
{
	struct pal_process_kill_event *ev;
	union pal_scratch *s;
	__u32 rule = 0, actions;
	long len;

	if (!(comm_actions & PAL_ACTION_SIGKILL) && fs->prefix_kill == 0)
		return false;
	s = output__scratch();
	if (!s)
		return false;
	ev = &s->kill;
	len = stats__check_read(bpf_probe_read_user_str(ev->path, sizeof(ev->path), filename), PAL_STAT_READ_USER_FAILED);
	if (len <= 0) {
		ev->path[0] = '\0';
		len = 1;
	}
	len &= PAL_PATH_MAX * 2 - 1;
	if (len > PAL_PATH_MAX)
		len = PAL_PATH_MAX;
	ev->path_len = len;

	if (comm_actions & PAL_ACTION_SIGKILL)
		return filter__kill(ctx, ev, comm_reason, syscall, 0, 0, fs->flags);
	actions = filter__path_actions(ev->path, fs->prefix_count, &rule);
	if (actions & PAL_ACTION_SIGKILL)
		return filter__kill(ctx, ev, PAL_KILL_REASON_PATH_PREFIX, syscall, rule, 0, fs->flags);
	return false;
}

/*
 * Every verdict that does not need the path is taken here, before anything is stashed: a dropped open then costs
 * the filter lookups and one task-storage write, and its sys_exit one task-storage read. With no binary, cgroup,
 * kind or SIGKILL selector the filter costs the pal_filter_state lookup alone.
 */
static __always_inline void file_open__stash(void *ctx, __u16 syscall, const char *filename, __u64 flags, __u32 mode)
{
	struct pal_filter_state *fs;
	struct pal_open_stash *st;
	__u8 state = PAL_OPEN_LIVE;

	if (task__is_ignored(bpf_get_current_pid_tgid()))
		return;
	fs = filter__state();
	if (fs && (fs->comm_count | fs->comm_prefix_count | fs->prefix_kill | fs->cgroup_count | fs->cgroup_only |
		   fs->kinds_dropped | fs->exe_count | fs->exe_prefix_count)) {
		struct filter__comm_sel m = {};
		bool found;

		if (filter__kind_masked(fs, PAL_EVENT_FILE_OPEN)) {
			state = PAL_OPEN_DROPPED;
		} else {
			found = filter__comm_find(fs, &m);
			if (file_open__enforce(ctx, fs, syscall, filename,
					       found ? filter__comm_actions_for(&m, PAL_EVENT_FILE_OPEN) : 0,
					       filter__comm_kill_reason(&m)))
				state = PAL_OPEN_KILLED;  /* sys_exit must know the kill was reported, not count a missing stash */
			else if (filter__drop_selected(fs, PAL_EVENT_FILE_OPEN, found, &m))
				state = PAL_OPEN_DROPPED;
		}
	}
	st = bpf_task_storage_get(&pal_open_stash, bpf_get_current_task_btf(), 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!st) {
		stats__inc(PAL_STAT_STASH_UPDATE_FAILED);
		return;
	}
	st->state = state;
	if (state != PAL_OPEN_LIVE)
		return;
	st->syscall = syscall;
	st->mode = mode;
	st->flags = flags;
	st->uptr = (__u64)filename;
	/* open(2) has no dirfd; for openat/openat2 only AT_FDCWD paths are joined with the cwd at sys_exit. */
	st->at_cwd = syscall == PAL_SYSCALL_OPEN || (int)((struct trace_event_raw_sys_enter *)ctx)->args[0] == -100;
}

/*
 * True when an absolute path as passed has nothing the kernel would resolve differently from the letters: no "//",
 * and no "." or ".." component. Only such a path of a failed open (no struct file to resolve) is matched against
 * Drop prefixes, so "/sys/fs/cgroup/../../../etc/shadow" cannot be dropped by /sys/fs/cgroup/ even when it fails.
 * Conservative: any "/." (dotfiles too) counts as not plain, which only delivers more.
 */
static __always_inline bool file_open__plain(const char *p)
{
	bool plain = true;

	/* Nothing about p[0] is known before the loop: a pre-read lets clang enter the loop in its middle, a
	 * fall-through back-edge that the 6.1 verifier's CFG check refuses. */
	for (__u32 i = 0; i < PAL_PATH_MAX - 1; i++) {
		char c = p[i];

		if (c == '\0')
			break;
		if (c == '/' && (p[i + 1] == '/' || p[i + 1] == '.')) {
			plain = false;
			break;
		}
	}
	/* Absolute, and not under /proc/ (magic links: /proc/<pid>/root, /proc/self/cwd, /proc/self/fd/N). */
	return plain && p[0] == '/' &&
	       !(p[1] == 'p' && p[2] == 'r' && p[3] == 'o' && p[4] == 'c' && (p[5] == '/' || p[5] == '\0'));
}

/* Appends the string as passed after path[0, at) (at <= PAL_PATH_MAX). Returns its length with the NUL (1 = ""). */
static __always_inline long file_open__arg(char *path, long at, __u64 uptr)
{
	long n;

	at &= PAL_PATH_MAX * 2 - 1;
	if (at > PAL_PATH_MAX)
		at = PAL_PATH_MAX;
	n = bpf_probe_read_user_str(&path[at], PAL_PATH_MAX, (const char *)uptr);
	if (n <= 0) {
		path[at] = '\0';
		return 1;
	}
	return n > PAL_PATH_MAX ? PAL_PATH_MAX : n;
}

static __always_inline void file_open__emit(void *ctx, long ret)
{
	struct pal_file_open_event *e;
	struct pal_filter_state *fs;
	struct pal_open_stash *st;
	union pal_scratch *s;
	struct file *file = NULL;
	__u32 rule = 0, actions = 0;
	__u8 state, pflags = 0;
	long len = -1, alen;

	if (task__is_ignored(bpf_get_current_pid_tgid()))
		return;
	st = bpf_task_storage_get(&pal_open_stash, bpf_get_current_task_btf(), 0, 0);
	if (!st || st->state == PAL_OPEN_NONE) {
		stats__inc(PAL_STAT_STASH_MISSING);
		return;
	}
	state = st->state;
	st->state = PAL_OPEN_NONE;
	if (state != PAL_OPEN_LIVE)
		return;  /* dropped or killed at sys_enter, and counted there */
	s = output__scratch();
	if (!s)
		return;
	e = &s->file_open;

	e->result = ret;
	e->flags = st->flags;
	e->mode = st->mode;
	e->syscall = st->syscall;
	e->_pad1 = 0;
	/* The path the kernel opened: the new fd's struct file (current->files->fdt->fd[ret]), walked to the root. */
	if (ret >= 0)
		file = sysev__fd_file((int)ret);
	if (file) {
		struct path fp;

		if (stats__check_read(bpf_probe_read_kernel(&fp, sizeof(fp), &file->f_path), PAL_STAT_READ_KERNEL_FAILED) == 0)
			len = task__resolve(&fp, e->path, &pflags);
		if (len > 0)
			pflags |= PAL_PATH_RESOLVED;
	}
	e->write_flags = file_signals__open_flags(st->flags, file);
	if (len <= 0) {
		/* No file (the open failed) or an unreadable one: the string as passed, absolute when cwd-relative. */
		pflags = 0;
		len = stats__check_read(bpf_probe_read_user_str(e->path, PAL_PATH_MAX, (const char *)st->uptr),
					PAL_STAT_READ_USER_FAILED);
		if (len <= 0) {
			e->path[0] = '\0';
			len = 1;
		}
		len &= PAL_PATH_MAX * 2 - 1;
		if (len > PAL_PATH_MAX)
			len = PAL_PATH_MAX;
		if (st->at_cwd && len > 1 && e->path[0] != '/') {
			len = task__join_cwd(e->path, len);
			pflags |= PAL_PATH_CWD_JOINED;
		}
	}
	len &= PAL_PATH_MAX * 2 - 1;
	if (len > PAL_PATH_MAX)
		len = PAL_PATH_MAX;
	e->path_len = len;
	e->path_flags = pflags;

	/* The filter matches the resolved path (or, for a failed open, a path as passed with nothing to resolve). */
	fs = filter__state();
	if (fs && fs->prefix_count > 0 && ((pflags & PAL_PATH_RESOLVED) || file_open__plain(e->path)))
		actions = filter__path_actions(e->path, fs->prefix_count, &rule);
	if (fs && (actions & PAL_ACTION_SIGKILL)) {
		/* The resolved path matched a Sigkill prefix the string as passed did not (or sys_enter could not read
		 * it, or the filter arrived mid-syscall): kill at sys_exit, before the process returns to user mode;
		 * the open is done. The kill record shares the scratch with e, so the path goes through pal_path_buf. */
		struct pal_process_kill_event *ev = &s->kill;
		struct pal_path_buf *pb = task__path_buf();
		__u16 syscall = st->syscall;

		if (!pb)
			return;
		if (bpf_probe_read_kernel_str(pb->buf, PAL_PATH_MAX, e->path) <= 0)
			pb->buf[0] = '\0';
		pb->buf[PAL_PATH_MAX - 1] = '\0';
		len = bpf_probe_read_kernel_str(ev->path, sizeof(ev->path), pb->buf);
		if (len <= 0) {
			ev->path[0] = '\0';
			len = 1;
		}
		len &= PAL_PATH_MAX * 2 - 1;
		if (len > PAL_PATH_MAX)
			len = PAL_PATH_MAX;
		ev->path_len = len;
		/* Not killed (counted): the scratch now holds the kill record, so the open event is lost with it. */
		filter__kill(ctx, ev, PAL_KILL_REASON_PATH_PREFIX, syscall, rule, 1, fs->flags);
		return;
	}
	if (actions & PAL_ACTION_DROP) {
		stats__inc(PAL_STAT_FILTERED);
		return;
	}
	/* The string as passed, after the path: the difference between the two is a signal of its own. */
	alen = file_open__arg(e->path, len, st->uptr);
	alen &= PAL_PATH_MAX * 2 - 1;
	if (alen > PAL_PATH_MAX)
		alen = PAL_PATH_MAX;
	e->arg_len = alen;
	task__fill_header(&e->hdr, PAL_EVENT_FILE_OPEN, offsetof(struct pal_file_open_event, path) + len + alen);
	output__submit(ctx, e, offsetof(struct pal_file_open_event, path) + len + alen);
}

PAL_REQUIRED PAL_KIND(FILE_OPEN)
SEC("tracepoint/syscalls/sys_enter_openat")
int pal_openat_in(struct trace_event_raw_sys_enter *ctx)
{
	file_open__stash(ctx, PAL_SYSCALL_OPENAT, (const char *)ctx->args[1], (__u32)ctx->args[2], (__u32)ctx->args[3]);
	return 0;
}

PAL_REQUIRED PAL_KIND(FILE_OPEN)
SEC("tracepoint/syscalls/sys_exit_openat")
int pal_openat_out(struct trace_event_raw_sys_exit *ctx)
{
	file_open__emit(ctx, ctx->ret);
	return 0;
}

PAL_KIND(FILE_OPEN)
SEC("tracepoint/syscalls/sys_enter_openat2")
int pal_openat2_in(struct trace_event_raw_sys_enter *ctx)
{
	struct pal_open_how how = {};

	/* A bad open_how pointer makes the syscall fail with EFAULT; still report the attempt, flags unknown. */
	stats__check_read(bpf_probe_read_user(&how, sizeof(how), (const void *)ctx->args[2]), PAL_STAT_READ_USER_FAILED);
	file_open__stash(ctx, PAL_SYSCALL_OPENAT2, (const char *)ctx->args[1], how.flags, (__u32)how.mode);
	return 0;
}

PAL_KIND(FILE_OPEN)
SEC("tracepoint/syscalls/sys_exit_openat2")
int pal_openat2_out(struct trace_event_raw_sys_exit *ctx)
{
	file_open__emit(ctx, ctx->ret);
	return 0;
}

/* Legacy open(2): x86-64 still has it and static binaries still call it. */
PAL_KIND(FILE_OPEN)
SEC("tracepoint/syscalls/sys_enter_open")
int pal_open_in(struct trace_event_raw_sys_enter *ctx)
{
	file_open__stash(ctx, PAL_SYSCALL_OPEN, (const char *)ctx->args[0], (__u32)ctx->args[1], (__u32)ctx->args[2]);
	return 0;
}

PAL_KIND(FILE_OPEN)
SEC("tracepoint/syscalls/sys_exit_open")
int pal_open_out(struct trace_event_raw_sys_exit *ctx)
{
	file_open__emit(ctx, ctx->ret);
	return 0;
}
