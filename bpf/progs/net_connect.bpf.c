// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Hook: syscalls connect enter+exit -> PAL_EVENT_NET_CONNECT (palisade.v1.NetConnect). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "palisade.h"
#include "maps.bpf.h"
#include "output.bpf.h"
#include "stats.bpf.h"
#include "task.bpf.h"
#include "filter.bpf.h"

#define PAL_AF_INET 2
#define PAL_AF_INET6 10
#define PAL_S_IFMT 00170000
#define PAL_S_IFSOCK 0140000

/*
 * The socket behind fd, if it is an AF_INET/AF_INET6 one: its protocol (IPPROTO_*), else -1. Looking at the
 * socket at sys_enter filters out AF_UNIX connects (the bulk of them on a node) before they cost a stash entry.
 */
static __always_inline int net__inet_protocol(int fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds;
	struct file *file = NULL;
	struct socket *sock;
	struct sock *sk;
	__u16 family;

	if (fd < 0 || (unsigned int)fd >= BPF_CORE_READ(fdt, max_fds))
		return -1;
	fds = BPF_CORE_READ(fdt, fd);
	if (stats__check_read(bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]), PAL_STAT_READ_KERNEL_FAILED) < 0 ||
	    !file)
		return -1;
	if ((BPF_CORE_READ(file, f_inode, i_mode) & PAL_S_IFMT) != PAL_S_IFSOCK)
		return -1;
	sock = BPF_CORE_READ(file, private_data);
	sk = BPF_CORE_READ(sock, sk);
	if (!sk)
		return -1;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != PAL_AF_INET && family != PAL_AF_INET6)
		return -1;
	/* sk_protocol was a bitfield before 5.6; the probed bitfield read handles both layouts. */
	return BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol);
}

PAL_REQUIRED PAL_KIND(NET_CONNECT)
SEC("tracepoint/syscalls/sys_enter_connect")
int pal_connect_in(struct trace_event_raw_sys_enter *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pid_tgid;
	struct pal_stash st = {};
	int protocol;

	if (task__is_ignored(pid_tgid))
		return 0;
	protocol = net__inet_protocol((int)ctx->args[0]);
	if (protocol < 0)
		return 0;
	st.kind = PAL_STASH_CONNECT;
	st.uptr = ctx->args[1];
	st.addrlen = (__u32)ctx->args[2];
	st.protocol = protocol;
	if (bpf_map_update_elem(&pal_stash, &tid, &st, BPF_ANY) < 0)
		stats__inc(PAL_STAT_STASH_UPDATE_FAILED);
	return 0;
}

PAL_REQUIRED PAL_KIND(NET_CONNECT)
SEC("tracepoint/syscalls/sys_exit_connect")
int pal_connect_out(struct trace_event_raw_sys_exit *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pid_tgid;
	struct pal_net_connect_event *e;
	struct pal_stash *st;
	union pal_scratch *s;
	__u16 family = 0;

	st = bpf_map_lookup_elem(&pal_stash, &tid);
	/* No entry is normal here: enter skipped non-INET sockets. Only an entry of the wrong kind is a loss. */
	if (!st)
		return 0;
	if (st->kind != PAL_STASH_CONNECT) {
		stats__inc(PAL_STAT_STASH_MISSING);
		goto out;
	}
	if (stats__check_read(bpf_probe_read_user(&family, sizeof(family), (const void *)st->uptr),
			      PAL_STAT_READ_USER_FAILED) < 0)
		goto out;
	/* AF_UNSPEC (disconnect) and anything else is not a connection attempt we report. */
	if (family != PAL_AF_INET && family != PAL_AF_INET6)
		goto out;
	if (filter__drop(PAL_EVENT_NET_CONNECT))
		goto out;
	s = output__scratch();
	if (!s)
		goto out;
	e = &s->net_connect;

	__builtin_memset(e->daddr, 0, sizeof(e->daddr));
	__builtin_memset(e->_pad0, 0, sizeof(e->_pad0));
	e->result = ctx->ret;
	e->family = family;
	e->protocol = st->protocol;
	e->dport = 0;
	if (family == PAL_AF_INET && st->addrlen >= sizeof(struct sockaddr_in)) {
		struct sockaddr_in sin = {};

		if (stats__check_read(bpf_probe_read_user(&sin, sizeof(sin), (const void *)st->uptr),
				      PAL_STAT_READ_USER_FAILED) == 0) {
			e->dport = bpf_ntohs(sin.sin_port);
			__builtin_memcpy(e->daddr, &sin.sin_addr, 4);
		}
	} else if (family == PAL_AF_INET6 && st->addrlen >= sizeof(struct sockaddr_in6)) {
		struct sockaddr_in6 sin6 = {};

		if (stats__check_read(bpf_probe_read_user(&sin6, sizeof(sin6), (const void *)st->uptr),
				      PAL_STAT_READ_USER_FAILED) == 0) {
			e->dport = bpf_ntohs(sin6.sin6_port);
			__builtin_memcpy(e->daddr, &sin6.sin6_addr, 16);
		}
	}
	if (filter__drop_port(e->dport))
		goto out;
	task__fill_header(&e->hdr, PAL_EVENT_NET_CONNECT, sizeof(*e));
	output__submit(ctx, e, sizeof(*e));
out:
	bpf_map_delete_elem(&pal_stash, &tid);
	return 0;
}
