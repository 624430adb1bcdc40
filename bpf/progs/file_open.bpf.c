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
static __always_inline bool file_open__enforce(void *ctx, __u16 syscall, const char *filename, __u32 comm_actions)
{
	struct pal_filter_state *fs = filter__state();
	struct pal_process_kill_event *ev;
	union pal_scratch *s;
	__u32 rule = 0, actions;
	long len;

	if (!fs || (!(comm_actions & PAL_ACTION_SIGKILL) && fs->prefix_kill == 0))
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
		return filter__kill(ctx, ev, PAL_KILL_BINARY, syscall, 0, 0, fs->flags);
	actions = filter__path_actions(ev->path, fs->prefix_count, &rule);
	if (actions & PAL_ACTION_SIGKILL)
		return filter__kill(ctx, ev, PAL_KILL_PATH_PREFIX, syscall, rule, 0, fs->flags);
	return false;
}

static __always_inline void file_open__stash(void *ctx, __u16 syscall, const char *filename, __u64 flags, __u32 mode)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pid_tgid;
	struct pal_stash st = {
		.kind = PAL_STASH_OPEN,
		.syscall = syscall,
		.mode = mode,
		.flags = flags,
		.uptr = (__u64)filename,
		/* open(2) has no dirfd; for openat/openat2 only AT_FDCWD paths are joined with the cwd at sys_exit. */
		.at_cwd = syscall == PAL_SYSCALL_OPEN || (int)((struct trace_event_raw_sys_enter *)ctx)->args[0] == -100,
	};
	__u32 comm_actions;

	if (task__is_ignored(pid_tgid))
		return;
	comm_actions = filter__comm_actions();
	if (file_open__enforce(ctx, syscall, filename, comm_actions))
		st.killed = 1;  /* still stashed: sys_exit must know the kill was reported and not count a missing stash */
	else if ((comm_actions & PAL_ACTION_DROP) || filter__kind_dropped(PAL_EVENT_FILE_OPEN))
		return;         /* sys_exit sees the same comm and counts the drop */
	if (bpf_map_update_elem(&pal_stash, &tid, &st, BPF_ANY) < 0)
		stats__inc(PAL_STAT_STASH_UPDATE_FAILED);
}

static __always_inline void file_open__emit(void *ctx, long ret)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pid_tgid;
	struct pal_file_open_event *e;
	struct pal_filter_state *fs;
	struct pal_stash *st;
	union pal_scratch *s;
	__u32 rule = 0, actions = 0;
	long len;

	if (task__is_ignored(pid_tgid))
		return;
	st = bpf_map_lookup_elem(&pal_stash, &tid);
	if (st && st->kind == PAL_STASH_OPEN && st->killed)
		goto out;
	if (filter__drop(PAL_EVENT_FILE_OPEN))
		goto out;
	if (!st || st->kind != PAL_STASH_OPEN) {
		stats__inc(PAL_STAT_STASH_MISSING);
		return;
	}
	s = output__scratch();
	if (!s)
		goto out;
	e = &s->file_open;

	e->result = ret;
	e->flags = st->flags;
	e->mode = st->mode;
	e->syscall = st->syscall;
	len = stats__check_read(bpf_probe_read_user_str(e->path, sizeof(e->path), (const char *)st->uptr),
				PAL_STAT_READ_USER_FAILED);
	if (len <= 0) {
		e->path[0] = '\0';
		len = 1;
	}
	len &= PAL_PATH_MAX * 2 - 1;
	if (len > PAL_PATH_MAX)
		len = PAL_PATH_MAX;
	e->path_len = len;

	fs = filter__state();
	if (fs && fs->prefix_count > 0)
		actions = filter__path_actions(e->path, fs->prefix_count, &rule);
	if (fs && (actions & PAL_ACTION_SIGKILL)) {
		/* sys_enter could not read the path (or the filter arrived mid-syscall): kill late, the open is done.
		 * The kill record shares the scratch with e, so the path is read again into its own field. */
		struct pal_process_kill_event *ev = &s->kill;
		__u16 syscall = st->syscall;

		len = bpf_probe_read_user_str(ev->path, sizeof(ev->path), (const char *)st->uptr);
		if (len <= 0) {
			ev->path[0] = '\0';
			len = 1;
		}
		len &= PAL_PATH_MAX * 2 - 1;
		if (len > PAL_PATH_MAX)
			len = PAL_PATH_MAX;
		ev->path_len = len;
		if (filter__kill(ctx, ev, PAL_KILL_PATH_PREFIX, syscall, rule, 1, fs->flags))
			goto out;
		/* Not killed (counted): the scratch now holds the kill record, so the open event is lost with it. */
		goto out;
	}
	if (actions & PAL_ACTION_DROP) {
		stats__inc(PAL_STAT_FILTERED);
		goto out;
	}
	/* After the filter, which matches the path as passed (bpf/README.md): the event gets the absolute one. */
	if (st->at_cwd) {
		len = task__join_cwd(e->path, len);
		e->path_len = len;
	}
	task__fill_header(&e->hdr, PAL_EVENT_FILE_OPEN, offsetof(struct pal_file_open_event, path) + len);
	output__submit(ctx, e, offsetof(struct pal_file_open_event, path) + len);
out:
	bpf_map_delete_elem(&pal_stash, &tid);
}

SEC("tracepoint/syscalls/sys_enter_openat")
int pal_openat_in(struct trace_event_raw_sys_enter *ctx)
{
	file_open__stash(ctx, PAL_SYSCALL_OPENAT, (const char *)ctx->args[1], (__u32)ctx->args[2], (__u32)ctx->args[3]);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_openat")
int pal_openat_out(struct trace_event_raw_sys_exit *ctx)
{
	file_open__emit(ctx, ctx->ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_openat2")
int pal_openat2_in(struct trace_event_raw_sys_enter *ctx)
{
	struct pal_open_how how = {};

	/* A bad open_how pointer makes the syscall fail with EFAULT; still report the attempt, flags unknown. */
	stats__check_read(bpf_probe_read_user(&how, sizeof(how), (const void *)ctx->args[2]), PAL_STAT_READ_USER_FAILED);
	file_open__stash(ctx, PAL_SYSCALL_OPENAT2, (const char *)ctx->args[1], how.flags, (__u32)how.mode);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_openat2")
int pal_openat2_out(struct trace_event_raw_sys_exit *ctx)
{
	file_open__emit(ctx, ctx->ret);
	return 0;
}

/* Legacy open(2): x86-64 still has it and static binaries still call it. */
SEC("tracepoint/syscalls/sys_enter_open")
int pal_open_in(struct trace_event_raw_sys_enter *ctx)
{
	file_open__stash(ctx, PAL_SYSCALL_OPEN, (const char *)ctx->args[0], (__u32)ctx->args[1], (__u32)ctx->args[2]);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_open")
int pal_open_out(struct trace_event_raw_sys_exit *ctx)
{
	file_open__emit(ctx, ctx->ret);
	return 0;
}
