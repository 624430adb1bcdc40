/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The sys_enter -> sys_exit pattern shared by every struct pal_syscall_event family (see the table above
 * struct pal_syscall_event in palisade.h): sys_enter fills a struct pal_stash_args (numbers now, user strings as
 * pointers) and stashes it by tid; sys_exit reads the strings, adds the result and emits.
 */
#ifndef PALISADE_SYSEV_BPF_H
#define PALISADE_SYSEV_BPF_H

#include "maps.bpf.h"
#include "output.bpf.h"
#include "stats.bpf.h"
#include "task.bpf.h"
#include "filter.bpf.h"

/* Drops (counted) the current task's events of this kind when filtered, the collector's own silently. True = go on. */
static __always_inline bool sysev__wanted(__u32 kind)
{
	return !task__is_ignored(bpf_get_current_pid_tgid()) && !filter__drop(kind);
}

static __always_inline void sysev__stash(struct pal_stash_args *st)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();

	if (bpf_map_update_elem(&pal_stash_args, &tid, st, BPF_ANY) < 0)
		stats__inc(PAL_STAT_STASH_UPDATE_FAILED);
}

/* Filters (counted) and stashes in one step: what most sys_enter programs need. */
static __always_inline void sysev__enter(__u16 kind, __u16 op, __u64 a0, __u64 a1, __u64 a2, __u64 a3, __u64 p0,
					 __u64 p1, __u64 p2)
{
	struct pal_stash_args st = {};

	if (!sysev__wanted(kind))
		return;
	st.kind = kind;
	st.op = op;
	st.args[0] = a0;
	st.args[1] = a1;
	st.args[2] = a2;
	st.args[3] = a3;
	st.uptr[0] = p0;
	st.uptr[1] = p1;
	st.uptr[2] = p2;
	sysev__stash(&st);
}

static __always_inline void sysev__user_str(char *dst, __u32 size, __u64 uptr)
{
	dst[0] = '\0';
	if (uptr && stats__check_read(bpf_probe_read_user_str(dst, size, (const void *)uptr), PAL_STAT_READ_USER_FAILED) < 0)
		dst[0] = '\0';
}

/* The current task's fd table as far as a lookup needs it: fdt->max_fds and fdt->fd. */
struct sysev__fdt {
	unsigned int max_fds;
	struct file **fd;
};

/*
 * Fills *head from current->files->fdt; false when there is none (counted when a read failed). max_fds and fd are
 * read in one go where they are fdtable's first two members (every kernel so far; the CO-RE offsets make the test a
 * constant), else one by one: this runs at every open's sys_exit.
 */
static __always_inline bool sysev__fd_table(struct sysev__fdt *head)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);

	head->max_fds = 0;
	head->fd = NULL;
	if (!fdt)
		return false;
	if (bpf_core_field_offset(struct fdtable, max_fds) == 0 &&
	    bpf_core_field_offset(struct fdtable, fd) == __builtin_offsetof(struct sysev__fdt, fd)) {
		if (stats__check_read(bpf_probe_read_kernel(head, sizeof(*head), fdt), PAL_STAT_READ_KERNEL_FAILED) < 0)
			return false;
	} else {
		head->max_fds = BPF_CORE_READ(fdt, max_fds);
		head->fd = BPF_CORE_READ(fdt, fd);
	}
	return head->fd != NULL;
}

/* The struct file behind fd in the current task, or NULL. */
static __always_inline struct file *sysev__fd_file(int fd)
{
	struct sysev__fdt head;
	struct file *file = NULL;

	if (fd < 0 || !sysev__fd_table(&head) || (unsigned int)fd >= head.max_fds)
		return NULL;
	if (stats__check_read(bpf_probe_read_kernel(&file, sizeof(file), &head.fd[fd]), PAL_STAT_READ_KERNEL_FAILED) < 0)
		return NULL;
	return file;
}

/*
 * FILE_OP: the directory a relative path is relative to, resolved in the kernel (task__resolve): the cwd for
 * AT_FDCWD, else the dirfd's file. Path-only syscalls leave no struct file to resolve at sys_exit (an unlinked
 * name has no dentry left), so userspace joins base + path and normalises "//", "." and ".." lexically
 * (event-decoder.ts). Returns the walk's PAL_PATH_* flags; base = "" for an absolute path or an unreadable one.
 */
static __always_inline __u8 sysev__base(char *base, const char *path, __u64 dfd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct path p;
	__u8 flags = 0;

	base[0] = '\0';
	if (path[0] == '/')
		return 0;
	if ((int)dfd == -100) {
		if (stats__check_read(BPF_CORE_READ_INTO(&p, task, fs, pwd), PAL_STAT_READ_KERNEL_FAILED) < 0)
			return 0;
	} else {
		struct file *file = sysev__fd_file((int)dfd);

		if (!file || stats__check_read(bpf_probe_read_kernel(&p, sizeof(p), &file->f_path),
					       PAL_STAT_READ_KERNEL_FAILED) < 0)
			return 0;
	}
	if (task__resolve(&p, base, &flags) <= 0)
		return 0;
	return flags | PAL_PATH_RESOLVED;
}

#define PAL_AF_INET 2
#define PAL_AF_INET6 10
#define PAL_S_IFMT 00170000
#define PAL_S_IFSOCK 0140000

/* The struct sock behind fd if it is an AF_INET/AF_INET6 socket, else NULL. */
static __always_inline struct sock *sysev__inet_sock(int fd)
{
	struct file *file = sysev__fd_file(fd);
	struct socket *sock;
	struct sock *sk;
	__u16 family;

	if (!file || (BPF_CORE_READ(file, f_inode, i_mode) & PAL_S_IFMT) != PAL_S_IFSOCK)
		return NULL;
	sock = BPF_CORE_READ(file, private_data);
	sk = BPF_CORE_READ(sock, sk);
	if (!sk)
		return NULL;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	return family == PAL_AF_INET || family == PAL_AF_INET6 ? sk : NULL;
}

/* sk_protocol was a bitfield before 5.6; the probed bitfield read handles both layouts. */
static __always_inline __u8 sysev__sk_protocol(struct sock *sk)
{
	return BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol);
}

/*
 * sys_exit half. A missing stash entry is normal (sys_enter filtered the call or did not want it), so it is not
 * counted; an entry of another family means the stash was overwritten, which loses the event.
 */
static __always_inline void sysev__exit(void *ctx, long ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct pal_syscall_event *e;
	struct pal_stash_args *st;
	union pal_scratch *s;
	__u32 size;

	st = bpf_map_lookup_elem(&pal_stash_args, &tid);
	if (!st)
		return;
	s = output__scratch();
	if (!s)
		goto out;
	e = &s->sys;
	e->result = ret;
	e->op = st->op;
	e->_pad0[0] = e->_pad0[1] = 0;
	e->path_flags0 = e->path_flags1 = 0;
	e->base0[0] = e->base1[0] = '\0';
	for (int i = 0; i < PAL_SYSCALL_ARGS; i++)
		e->args[i] = st->args[i];
	sysev__user_str(e->str0, sizeof(e->str0), st->uptr[0]);
	sysev__user_str(e->str1, sizeof(e->str1), st->uptr[1]);
	sysev__user_str(e->str2, sizeof(e->str2), st->uptr[2]);

	if (st->kind == PAL_EVENT_FILE_OP) {
		bool two = st->op == PAL_OP_RENAME || st->op == PAL_OP_RENAMEAT || st->op == PAL_OP_RENAMEAT2 ||
			   (st->op >= PAL_OP_LINK && st->op <= PAL_OP_SYMLINKAT);

		/* A symlink's str0 is its text, relative to the link's directory (base1), not to a dirfd. */
		if (st->op != PAL_OP_SYMLINK && st->op != PAL_OP_SYMLINKAT)
			e->path_flags0 = sysev__base(e->base0, e->str0, st->args[0]);
		if (two)
			e->path_flags1 = sysev__base(e->base1, e->str1, st->args[1]);
	} else if (st->kind == PAL_EVENT_PRIV_SETID) {
		/* What the ids became (the syscall may have failed, or been a no-op): read back from the new cred. */
		struct task_struct *task = (struct task_struct *)bpf_get_current_task();
		bool gid = st->op == PAL_OP_SETGID || st->op == PAL_OP_SETREGID || st->op == PAL_OP_SETRESGID;

		e->args[6] = gid ? BPF_CORE_READ(task, cred, gid.val) : BPF_CORE_READ(task, cred, uid.val);
		e->args[7] = gid ? BPF_CORE_READ(task, cred, egid.val) : BPF_CORE_READ(task, cred, euid.val);
	} else if (st->kind == PAL_EVENT_MODULE_LOAD && st->op == PAL_OP_FINIT_MODULE) {
		struct file *file = sysev__fd_file((int)st->args[0]);

		if (file)
			stats__check_read(bpf_probe_read_kernel_str(e->str1, sizeof(e->str1),
								     BPF_CORE_READ(file, f_path.dentry, d_name.name)),
					  PAL_STAT_READ_KERNEL_FAILED);
	}
	/* base0/base1 are the record's tail: left out unless a file op had a relative path (the common record stays
	 * the size it was before they existed). */
	size = e->base0[0] || e->base1[0] ? sizeof(*e) : offsetof(struct pal_syscall_event, base0);
	task__fill_header(&e->hdr, st->kind, size);
	output__submit(ctx, e, size);
out:
	bpf_map_delete_elem(&pal_stash_args, &tid);
}

/* The sys_exit program of one syscall: every family's exit is the same. */
#define PAL_SYSEV_EXIT(KIND, syscall)                                               \
	PAL_KIND(KIND) SEC("tracepoint/syscalls/sys_exit_" #syscall)                \
	int pal_##syscall##_out(struct trace_event_raw_sys_exit *ctx)               \
	{                                                                           \
		sysev__exit(ctx, ctx->ret);                                         \
		return 0;                                                           \
	}

#endif /* PALISADE_SYSEV_BPF_H */
