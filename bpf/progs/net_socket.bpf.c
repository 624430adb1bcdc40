// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Hook: syscalls accept/accept4/bind/listen enter+exit (AF_INET/AF_INET6 sockets only), and the sys_exit of UDP
 * sendto/sendmsg stashed by udp_send.bpf.c -> PAL_EVENT_NET_SOCKET (palisade.v1.NetSocket); and socket(2) enter+exit
 * (op SOCKET) for the uncommon sockets only: not AF_UNIX, not a plain AF_INET/AF_INET6 TCP stream or UDP datagram
 * socket (those are everywhere, and connect/bind/accept report them), so SOCK_RAW of any family, AF_PACKET,
 * AF_NETLINK and the rest (ICMP datagram, SCTP, vsock, AF_ALG, ...) are seen, failures (EPERM) included.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "palisade.h"
#include "maps.bpf.h"
#include "sysev.bpf.h"

/* Stash slots: args[0] = fd, args[1] = backlog, args[2] = addrlen; uptr[0] = user sockaddr. */
static __always_inline void net_socket__enter(__u16 op, int fd, __u64 uaddr, __u64 addrlen, __u64 backlog)
{
	struct pal_stash_args st = {};

	if (!sysev__inet_sock(fd) || !sysev__wanted(PAL_EVENT_NET_SOCKET))
		return;
	st.kind = PAL_EVENT_NET_SOCKET;
	st.op = op;
	st.args[0] = (__u32)fd;
	st.args[1] = backlog;
	st.args[2] = addrlen;
	st.uptr[0] = uaddr;
	sysev__stash(&st);
}

/* Address of a socket's local (local = true) or remote end, from the kernel's sock. */
static __always_inline void net_socket__sk_addr(struct pal_net_socket_event *e, struct sock *sk, bool local)
{
	e->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	e->protocol = sysev__sk_protocol(sk);
	if (local)
		e->port = BPF_CORE_READ(sk, __sk_common.skc_num);
	else
		e->port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (e->family == PAL_AF_INET) {
		__u32 a = local ? BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr) : BPF_CORE_READ(sk, __sk_common.skc_daddr);

		__builtin_memcpy(e->addr, &a, 4);
	} else {
		if (local)
			bpf_core_read(e->addr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		else
			bpf_core_read(e->addr, 16, &sk->__sk_common.skc_v6_daddr);
	}
}

/* Address from a user sockaddr (bind, sendto). False when unreadable or of another family. */
static __always_inline bool net_socket__user_addr(struct pal_net_socket_event *e, __u64 uaddr, __u32 addrlen)
{
	struct sockaddr_in6 sin6 = {};

	if (!uaddr || addrlen < sizeof(struct sockaddr_in))
		return false;
	if (stats__check_read(bpf_probe_read_user(&sin6, addrlen < sizeof(sin6) ? sizeof(struct sockaddr_in) : sizeof(sin6),
						  (const void *)uaddr),
			      PAL_STAT_READ_USER_FAILED) < 0)
		return false;
	e->family = sin6.sin6_family;
	e->port = bpf_ntohs(sin6.sin6_port);
	if (e->family == PAL_AF_INET)
		__builtin_memcpy(e->addr, &((struct sockaddr_in *)&sin6)->sin_addr, 4);
	else if (e->family == PAL_AF_INET6 && addrlen >= sizeof(sin6))
		__builtin_memcpy(e->addr, &sin6.sin6_addr, 16);
	else
		return false;
	return true;
}

static __always_inline void net_socket__exit(void *ctx, long ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct pal_net_socket_event *e;
	struct pal_stash_args *st;
	union pal_scratch *s;
	struct sock *sk;
	bool ok = true;

	st = bpf_map_lookup_elem(&pal_stash_args, &tid);
	if (!st || st->kind != PAL_EVENT_NET_SOCKET)
		return;
	s = output__scratch();
	if (!s)
		goto out;
	e = &s->net_socket;
	__builtin_memset(e->addr, 0, sizeof(e->addr));
	e->result = ret;
	e->op = st->op;
	e->family = 0;
	e->port = 0;
	e->protocol = 0;
	e->_pad0 = 0;
	e->backlog = 0;
	e->_pad1 = 0;
	e->sock_type = 0;
	e->sock_protocol = 0;
	sk = sysev__inet_sock((int)st->args[0]);
	if (sk) {
		e->family = BPF_CORE_READ(sk, __sk_common.skc_family);
		e->protocol = sysev__sk_protocol(sk);
		e->sock_type = BPF_CORE_READ_BITFIELD_PROBED(sk, sk_type);
		e->sock_protocol = e->protocol;
	}
	switch (st->op) {
	case PAL_OP_ACCEPT:
	case PAL_OP_ACCEPT4:
		/* The peer, from the new socket: present whether or not the caller asked for the address. */
		if (ret >= 0) {
			struct sock *peer = sysev__inet_sock((int)ret);

			if (peer)
				net_socket__sk_addr(e, peer, false);
		}
		break;
	case PAL_OP_LISTEN:
		e->backlog = (__u32)st->args[1];
		if (sk)
			net_socket__sk_addr(e, sk, true);
		break;
	default: /* bind, sendto, sendmsg: the address the caller passed */
		ok = net_socket__user_addr(e, st->uptr[0], (__u32)st->args[2]);
		break;
	}
	if (!ok)
		goto out;
	task__fill_header(&e->hdr, PAL_EVENT_NET_SOCKET, sizeof(*e));
	output__submit(ctx, e, sizeof(*e));
out:
	bpf_map_delete_elem(&pal_stash_args, &tid);
}

#define PAL_AF_UNIX_ 1
#define PAL_SOCK_STREAM 1
#define PAL_SOCK_DGRAM 2
#define PAL_IPPROTO_TCP 6
#define PAL_IPPROTO_UDP 17

/* socket(2) calls that are not reported: AF_UNIX, and AF_INET/AF_INET6 TCP streams and UDP datagrams. */
static __always_inline bool net_socket__common(__u32 family, __u32 type, __u32 protocol)
{
	__u32 t = type & PAL_SOCK_TYPE_MASK;

	if (family == PAL_AF_UNIX_)
		return true;
	if (family != PAL_AF_INET && family != PAL_AF_INET6)
		return false;
	return (t == PAL_SOCK_STREAM && (protocol == 0 || protocol == PAL_IPPROTO_TCP)) ||
	       (t == PAL_SOCK_DGRAM && (protocol == 0 || protocol == PAL_IPPROTO_UDP));
}

PAL_KIND(NET_SOCKET)
SEC("tracepoint/syscalls/sys_enter_socket")
int pal_socket_in(struct trace_event_raw_sys_enter *ctx)
{
	__u32 family = (__u32)ctx->args[0], type = (__u32)ctx->args[1], protocol = (__u32)ctx->args[2];
	struct pal_stash_args st = {};

	if (net_socket__common(family, type, protocol) || !sysev__wanted(PAL_EVENT_NET_SOCKET))
		return 0;
	st.kind = PAL_EVENT_NET_SOCKET;
	st.op = PAL_OP_SOCKET;
	st.args[0] = family;
	st.args[1] = type;
	st.args[2] = protocol;
	sysev__stash(&st);
	return 0;
}

/* The arguments as passed (the type with its flags), and the result: the fd or -errno (EPERM without CAP_NET_RAW). */
PAL_KIND(NET_SOCKET)
SEC("tracepoint/syscalls/sys_exit_socket")
int pal_socket_out(struct trace_event_raw_sys_exit *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct pal_net_socket_event *e;
	struct pal_stash_args *st;
	union pal_scratch *s;

	st = bpf_map_lookup_elem(&pal_stash_args, &tid);
	if (!st || st->kind != PAL_EVENT_NET_SOCKET || st->op != PAL_OP_SOCKET)
		return 0;
	s = output__scratch();
	if (!s)
		goto out;
	e = &s->net_socket;
	__builtin_memset(e->addr, 0, sizeof(e->addr));
	e->result = ctx->ret;
	e->op = PAL_OP_SOCKET;
	e->family = (__u16)st->args[0];
	e->port = 0;
	/* protocol is an IPPROTO_* byte; other families' protocols (AF_PACKET's ethertype) are in sock_protocol only */
	e->protocol = e->family == PAL_AF_INET || e->family == PAL_AF_INET6 ? (__u8)st->args[2] : 0;
	e->_pad0 = 0;
	e->backlog = 0;
	e->_pad1 = 0;
	e->sock_type = (__u32)st->args[1];
	e->sock_protocol = (__s32)st->args[2];
	task__fill_header(&e->hdr, PAL_EVENT_NET_SOCKET, sizeof(*e));
	output__submit(ctx, e, sizeof(*e));
out:
	bpf_map_delete_elem(&pal_stash_args, &tid);
	return 0;
}

PAL_KIND(NET_SOCKET)
SEC("tracepoint/syscalls/sys_enter_accept")
int pal_accept_in(struct trace_event_raw_sys_enter *ctx)
{
	net_socket__enter(PAL_OP_ACCEPT, (int)ctx->args[0], 0, 0, 0);
	return 0;
}

PAL_KIND(NET_SOCKET)
SEC("tracepoint/syscalls/sys_exit_accept")
int pal_accept_out(struct trace_event_raw_sys_exit *ctx)
{
	net_socket__exit(ctx, ctx->ret);
	return 0;
}

PAL_KIND(NET_SOCKET)
SEC("tracepoint/syscalls/sys_enter_accept4")
int pal_accept4_in(struct trace_event_raw_sys_enter *ctx)
{
	net_socket__enter(PAL_OP_ACCEPT4, (int)ctx->args[0], 0, 0, 0);
	return 0;
}

PAL_KIND(NET_SOCKET)
SEC("tracepoint/syscalls/sys_exit_accept4")
int pal_accept4_out(struct trace_event_raw_sys_exit *ctx)
{
	net_socket__exit(ctx, ctx->ret);
	return 0;
}

PAL_KIND(NET_SOCKET)
SEC("tracepoint/syscalls/sys_enter_bind")
int pal_bind_in(struct trace_event_raw_sys_enter *ctx)
{
	net_socket__enter(PAL_OP_BIND, (int)ctx->args[0], ctx->args[1], (__u32)ctx->args[2], 0);
	return 0;
}

PAL_KIND(NET_SOCKET)
SEC("tracepoint/syscalls/sys_exit_bind")
int pal_bind_out(struct trace_event_raw_sys_exit *ctx)
{
	net_socket__exit(ctx, ctx->ret);
	return 0;
}

PAL_KIND(NET_SOCKET)
SEC("tracepoint/syscalls/sys_enter_listen")
int pal_listen_in(struct trace_event_raw_sys_enter *ctx)
{
	net_socket__enter(PAL_OP_LISTEN, (int)ctx->args[0], 0, 0, (__u32)ctx->args[1]);
	return 0;
}

PAL_KIND(NET_SOCKET)
SEC("tracepoint/syscalls/sys_exit_listen")
int pal_listen_out(struct trace_event_raw_sys_exit *ctx)
{
	net_socket__exit(ctx, ctx->ret);
	return 0;
}

PAL_KIND(NET_SOCKET)
SEC("tracepoint/syscalls/sys_exit_sendto")
int pal_sendto_out(struct trace_event_raw_sys_exit *ctx)
{
	net_socket__exit(ctx, ctx->ret);
	return 0;
}

PAL_KIND(NET_SOCKET)
SEC("tracepoint/syscalls/sys_exit_sendmsg")
int pal_sendmsg_out(struct trace_event_raw_sys_exit *ctx)
{
	net_socket__exit(ctx, ctx->ret);
	return 0;
}
