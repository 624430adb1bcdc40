// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Hook: syscalls sendto/sendmsg/sendmmsg sys_enter on UDP sockets (AF_INET/AF_INET6).
 *   - to port 53 (the address passed, or the connected peer for send()): PAL_EVENT_DNS_QUERY (palisade.v1.DnsQuery),
 *     emitted here with the first PAL_DNS_MAX bytes of the message (parsed in userspace);
 *   - to another port, with an explicit address (sendto/sendmsg): stashed for net_socket.bpf.c's sys_exit, which
 *     emits PAL_EVENT_NET_SOCKET. Connected-UDP sends without an address are connect()s already reported.
 * write(2) on a connected UDP socket to port 53 is not hooked: write is the node's hottest syscall and resolvers
 * use send/sendto/sendmmsg.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "palisade.h"
#include "maps.bpf.h"
#include "sysev.bpf.h"

#define PAL_IPPROTO_UDP 17
#define PAL_DNS_PORT 53

/* The uapi struct user_msghdr / iovec head (ABI-stable). */
struct pal_msghdr {
	__u64 name;
	__u32 namelen;
	__u32 _pad0;
	__u64 iov;
	__u64 iovlen;
};

struct pal_iovec {
	__u64 base;
	__u64 len;
};

static __always_inline void udp_send__enter(void *ctx, __u16 op, int fd, __u64 ubuf, __u64 len, __u64 uaddr,
					    __u32 addrlen)
{
	struct sock *sk = sysev__inet_sock(fd);
	struct sockaddr_in6 sin6 = {};
	struct pal_dns_event *e;
	union pal_scratch *s;
	__u16 family, dport;

	if (!sk || sysev__sk_protocol(sk) != PAL_IPPROTO_UDP || task__is_ignored(bpf_get_current_pid_tgid()))
		return;
	if (uaddr && addrlen >= sizeof(struct sockaddr_in)) {
		if (stats__check_read(bpf_probe_read_user(&sin6, addrlen < sizeof(sin6) ? sizeof(struct sockaddr_in) :
											   sizeof(sin6),
							  (const void *)uaddr),
				      PAL_STAT_READ_USER_FAILED) < 0)
			return;
		family = sin6.sin6_family;
		dport = bpf_ntohs(sin6.sin6_port);
	} else {
		family = BPF_CORE_READ(sk, __sk_common.skc_family);
		dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
		uaddr = 0;
	}
	if (family != PAL_AF_INET && family != PAL_AF_INET6)
		return;
	if (dport != PAL_DNS_PORT) {
		if (uaddr && op != PAL_OP_SENDMMSG && sysev__wanted(PAL_EVENT_NET_SOCKET)) {
			struct pal_stash_args st = { .kind = PAL_EVENT_NET_SOCKET, .op = op };

			st.args[0] = (__u32)fd;
			st.args[2] = addrlen;
			st.uptr[0] = uaddr;
			sysev__stash(&st);
		}
		return;
	}
	if (!sysev__wanted(PAL_EVENT_DNS_QUERY))
		return;
	s = output__scratch();
	if (!s)
		return;
	e = &s->dns;
	__builtin_memset(e->daddr, 0, sizeof(e->daddr));
	e->op = op;
	e->family = family;
	e->dport = dport;
	if (uaddr) {
		if (family == PAL_AF_INET)
			__builtin_memcpy(e->daddr, &((struct sockaddr_in *)&sin6)->sin_addr, 4);
		else
			__builtin_memcpy(e->daddr, &sin6.sin6_addr, 16);
	} else if (family == PAL_AF_INET) {
		__u32 a = BPF_CORE_READ(sk, __sk_common.skc_daddr);

		__builtin_memcpy(e->daddr, &a, 4);
	} else {
		bpf_core_read(e->daddr, 16, &sk->__sk_common.skc_v6_daddr);
	}
	if (len > PAL_DNS_MAX)
		len = PAL_DNS_MAX;
	len &= 2 * PAL_DNS_MAX - 1;
	if (len > PAL_DNS_MAX)
		len = PAL_DNS_MAX;
	if (len && stats__check_read(bpf_probe_read_user(e->msg, len, (const void *)ubuf), PAL_STAT_READ_USER_FAILED) < 0)
		len = 0;
	e->len = len;
	task__fill_header(&e->hdr, PAL_EVENT_DNS_QUERY, sizeof(*e));
	output__submit(ctx, e, sizeof(*e));
}

PAL_KIND(DNS_QUERY)
SEC("tracepoint/syscalls/sys_enter_sendto")
int pal_sendto_in(struct trace_event_raw_sys_enter *ctx)
{
	udp_send__enter(ctx, PAL_OP_SENDTO, (int)ctx->args[0], ctx->args[1], ctx->args[2], ctx->args[4],
			(__u32)ctx->args[5]);
	return 0;
}

static __always_inline void udp_send__msg(void *ctx, __u16 op, int fd, __u64 umsg)
{
	struct pal_msghdr m = {};
	struct pal_iovec iov = {};

	if (!umsg || bpf_probe_read_user(&m, sizeof(m), (const void *)umsg) < 0)
		return;
	if (m.iovlen && m.iov)
		bpf_probe_read_user(&iov, sizeof(iov), (const void *)m.iov);
	udp_send__enter(ctx, op, fd, iov.base, iov.len, m.name, m.namelen);
}

PAL_KIND(DNS_QUERY)
SEC("tracepoint/syscalls/sys_enter_sendmsg")
int pal_sendmsg_in(struct trace_event_raw_sys_enter *ctx)
{
	udp_send__msg(ctx, PAL_OP_SENDMSG, (int)ctx->args[0], ctx->args[1]);
	return 0;
}

/* glibc's resolver sends its A and AAAA questions with one sendmmsg: both are reported, each as a DNS query. */
PAL_KIND(DNS_QUERY)
SEC("tracepoint/syscalls/sys_enter_sendmmsg")
int pal_sendmmsg_in(struct trace_event_raw_sys_enter *ctx)
{
	/* struct mmsghdr = { struct user_msghdr msg_hdr (56 bytes); unsigned int msg_len; } padded to 64. */
	__u32 vlen = (__u32)ctx->args[2];

	udp_send__msg(ctx, PAL_OP_SENDMMSG, (int)ctx->args[0], ctx->args[1]);
	if (vlen > 1)
		udp_send__msg(ctx, PAL_OP_SENDMMSG, (int)ctx->args[0], ctx->args[1] + 64);
	return 0;
}
