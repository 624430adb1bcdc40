/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * "Is this struct file a socket, and what is it" (struct pal_sock_info in palisade.h), for the stdio sockets of an
 * exec (process_exec.bpf.c: fds 0..2 of the new image) and a socket dup'ed onto 0..2 (fd_dup.bpf.c). CO-RE reads
 * only, so it runs on tracepoints and tp_btf alike:
 *   S_ISSOCK(file->f_inode->i_mode)  -> file->private_data is the struct socket (sock_alloc_file sets it) ->
 *   socket->type, socket->sk -> skc_family, sk_protocol, and the far end:
 *     AF_INET/AF_INET6: skc_daddr/skc_v6_daddr + skc_dport when connected (PAL_SOCK_PEER), else the bound local
 *                       address and port (PAL_SOCK_LOCAL: a listening socket handed over as stdin, inetd style);
 *     AF_UNIX:          unix_sk(sk)->peer's bound name when connected (PAL_SOCK_PEER), else its own (PAL_SOCK_LOCAL);
 *                       socketpair() ends and unbound clients have none (""); an abstract name starts with '@';
 *     anything else:    family, type and protocol only.
 * The S_ISSOCK test is the same one the kernel's sock_from_file() stands for (f_op == &socket_file_ops): every
 * socket file has a socket inode, and no other file has one.
 */
#ifndef PALISADE_SOCK_BPF_H
#define PALISADE_SOCK_BPF_H

#include <bpf/bpf_endian.h>
#include "sysev.bpf.h"

#define PAL_AF_UNIX 1

static __always_inline void sock__clear(struct pal_sock_info *si)
{
	si->family = 0;
	si->type = 0;
	si->protocol = 0;
	si->port = 0;
	si->flags = 0;
	si->_pad0[0] = si->_pad0[1] = si->_pad0[2] = 0;
	__builtin_memset(si->addr, 0, sizeof(si->addr));
	si->unix_path[0] = '\0';
}

/* AF_UNIX: the name the far end is bound to (or this end's when not connected). */
static __always_inline void sock__unix(struct pal_sock_info *si, struct sock *sk)
{
	struct unix_sock *u = (struct unix_sock *)sk;
	struct sock *peer = BPF_CORE_READ(u, peer);
	struct unix_address *addr;
	int len;

	if (peer) {
		si->flags = PAL_SOCK_PEER;
		addr = BPF_CORE_READ((struct unix_sock *)peer, addr);
	} else {
		si->flags = PAL_SOCK_LOCAL;
		addr = BPF_CORE_READ(u, addr);
	}
	if (!addr)
		return;
	/* len counts sun_family (2 bytes) and, for a path, the NUL; an abstract name has none and starts with NUL. */
	len = BPF_CORE_READ(addr, len) - 2;
	if (len <= 0)
		return;
	if (len > PAL_SOCK_UNIX_PATH - 1)
		len = PAL_SOCK_UNIX_PATH - 1;
	len &= PAL_SOCK_UNIX_PATH - 1;
	if (stats__check_read(bpf_probe_read_kernel(si->unix_path, len, &addr->name[0].sun_path),
			      PAL_STAT_READ_KERNEL_FAILED) < 0) {
		si->unix_path[0] = '\0';
		return;
	}
	si->unix_path[len & (PAL_SOCK_UNIX_PATH - 1)] = '\0';
	if (si->unix_path[0] == '\0')
		si->unix_path[0] = '@'; /* abstract, written as ss(8) does */
}

static __always_inline void sock__inet(struct pal_sock_info *si, struct sock *sk)
{
	__u16 dport = BPF_CORE_READ(sk, __sk_common.skc_dport);
	bool peer = dport != 0;

	si->flags = peer ? PAL_SOCK_PEER : PAL_SOCK_LOCAL;
	si->port = peer ? bpf_ntohs(dport) : BPF_CORE_READ(sk, __sk_common.skc_num);
	if (si->family == PAL_AF_INET) {
		__u32 a = peer ? BPF_CORE_READ(sk, __sk_common.skc_daddr) : BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);

		__builtin_memcpy(si->addr, &a, 4);
	} else if (peer) {
		bpf_core_read(si->addr, 16, &sk->__sk_common.skc_v6_daddr);
	} else {
		bpf_core_read(si->addr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
	}
}

/* Fills si from file when it is a socket; family stays 0 otherwise. True when it is a socket. */
static __always_inline bool sock__from_file(struct file *file, struct pal_sock_info *si)
{
	struct socket *sock;
	struct sock *sk;

	sock__clear(si);
	if (!file || (BPF_CORE_READ(file, f_inode, i_mode) & PAL_S_IFMT) != PAL_S_IFSOCK)
		return false;
	sock = BPF_CORE_READ(file, private_data);
	if (!sock)
		return false;
	sk = BPF_CORE_READ(sock, sk);
	if (!sk)
		return false;
	si->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	si->type = (__u16)BPF_CORE_READ(sock, type);
	si->protocol = sysev__sk_protocol(sk);
	if (si->family == PAL_AF_INET || si->family == PAL_AF_INET6)
		sock__inet(si, sk);
	else if (si->family == PAL_AF_UNIX)
		sock__unix(si, sk);
	return si->family != 0;
}

/* Cheap first test (sys_enter of a dup): is fd a socket at all. */
static __always_inline bool sock__fd_is_socket(int fd)
{
	struct file *file = sysev__fd_file(fd);

	return file && (BPF_CORE_READ(file, f_inode, i_mode) & PAL_S_IFMT) == PAL_S_IFSOCK;
}

/* exec: fds 0, 1 and 2 of the task (the new image's, at sched_process_exec), one pal_sock_info each. */
static __always_inline void sock__stdio(struct pal_sock_info *stdio)
{
	for (int fd = 0; fd < PAL_STDIO_FDS; fd++)
		sock__from_file(sysev__fd_file(fd), &stdio[fd]);
}

#endif /* PALISADE_SOCK_BPF_H */
