/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef PALISADE_TASK_BPF_H
#define PALISADE_TASK_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "palisade.h"
#include "stats.bpf.h"

/* True for the collector's own thread group: its file opens would otherwise feed back into its own stream. */
static __always_inline bool task__is_ignored(__u64 pid_tgid)
{
	return pal_cfg.ignore_tgid != 0 && (__u32)(pid_tgid >> 32) == pal_cfg.ignore_tgid;
}

/*
 * Fills the common header from the current task. Fields that cannot be read are left zero and counted.
 * Direct loads through the BTF task pointer (CO-RE relocated, fault-tolerant like probe reads: a fault reads 0)
 * instead of bpf_probe_read_kernel calls: this runs once per event, and each helper call cost more than the load.
 */
static __always_inline void task__fill_header(struct pal_event_header *h, __u16 kind, __u16 size)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct task_struct *parent = task->real_parent;
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u64 uid_gid = bpf_get_current_uid_gid();
	__u64 *pc = (__u64 *)h->parent_comm;

	h->kind = kind;
	h->size = size;
	h->cpu = bpf_get_smp_processor_id();
	h->ts_ns = bpf_ktime_get_boot_ns();
	h->pid = pid_tgid >> 32;
	h->tid = (__u32)pid_tgid;
	h->ppid = parent->tgid;
	h->uid = (__u32)uid_gid;
	h->gid = uid_gid >> 32;
	h->euid = task->cred->euid.val;
	h->cgroup_id = bpf_get_current_cgroup_id();
	if (bpf_get_current_comm(h->comm, sizeof(h->comm)) < 0)
		stats__inc(PAL_STAT_READ_KERNEL_FAILED);
	/* comm is TASK_COMM_LEN (16) bytes, NUL-padded by __set_task_comm; two words, then a NUL in case a rename
	 * raced with the copy. */
	_Static_assert(sizeof(h->parent_comm) == 16, "parent_comm is two words");
	pc[0] = *(__u64 *)&parent->comm[0];
	pc[1] = *(__u64 *)&parent->comm[8];
	h->parent_comm[15] = '\0';
}

/* Leaf name of the task's cgroup v2 (default hierarchy) directory, e.g. cri-containerd-<id>.scope. */
static __always_inline void task__cgroup_name(struct task_struct *task, char *buf, __u32 len)
{
	const char *name = BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, name);

	buf[0] = '\0';
	if (!name || stats__check_read(bpf_probe_read_kernel_str(buf, len, name), PAL_STAT_READ_KERNEL_FAILED) < 0)
		buf[0] = '\0';
}

/* This CPU's pal_path_buf, where paths are built backwards (task__resolve_build); NULL is counted. */
static __always_inline struct pal_path_buf *task__path_buf(void)
{
	__u32 zero = 0;
	struct pal_path_buf *pb = bpf_map_lookup_elem(&pal_path_buf, &zero);

	if (!pb)
		stats__inc(PAL_STAT_SCRATCH_MISSING);
	return pb;
}

#define PAL_PROC_SUPER_MAGIC 0x9fa0
/* The walk of task__resolve_build keeps the path inside pb->buf[PAL_RESOLVE_LOW, 511]: at most PAL_PATH_MAX - 1
 * bytes with room for the "..." cut marker, so the string always fits a PAL_PATH_MAX field. */
#define PAL_RESOLVE_LOW (511 - (PAL_PATH_MAX - 1) + 3)

/* True when dentry d (a child of a procfs root) is /proc/<tgid of the current task>: its proc inode's pid is the
 * thread group leader's. Named "self" in resolved paths, so /proc/self/ selectors keep meaning the process' own
 * entries (the dentry's name is the pid in the proc mount's pid namespace, which a container makes its own). */
static __always_inline bool task__is_proc_self(struct dentry *d, struct task_struct *task)
{
	struct inode *inode;
	struct pid *pid;

	if (BPF_CORE_READ(d, d_sb, s_magic) != PAL_PROC_SUPER_MAGIC)
		return false;
	inode = BPF_CORE_READ(d, d_inode);
	if (!inode)
		return false;
	pid = BPF_CORE_READ(container_of(inode, struct proc_inode, vfs_inode), pid);
	return pid && pid == BPF_CORE_READ(task, group_leader, thread_pid);
}

/* One step's worth of a dentry: d_parent and d_name, read together (task__dentry). */
struct task__dentry_step {
	struct dentry *parent;
	struct qstr name;
};

/*
 * d->d_parent and d->d_name in one read when the kernel has them side by side (every kernel from 4.x to 6.18 does;
 * CO-RE relocates both offsets, so the test is a constant the verifier folds), else in two. 0, or <0 (counted).
 * Half the helper calls of reading the parent, the name's length and its pointer one by one: the walk runs for every
 * open, so each call it saves is paid a million times in a storm.
 */
static __always_inline long task__dentry(struct dentry *d, struct task__dentry_step *st)
{
	long err;

	if (bpf_core_field_offset(struct dentry, d_name) == bpf_core_field_offset(struct dentry, d_parent) + sizeof(void *)) {
		err = bpf_core_read(st, sizeof(*st), &d->d_parent);
	} else {
		err = bpf_core_read(&st->parent, sizeof(st->parent), &d->d_parent);
		if (err == 0)
			err = bpf_core_read(&st->name, sizeof(st->name), &d->d_name);
	}
	return stats__check_read(err, PAL_STAT_READ_KERNEL_FAILED);
}

/*
 * The kernel-resolved path of `path` (a struct file's f_path, or a directory's): dentry names walked up through
 * d_parent, crossing mounts through mnt_parent/mnt_mountpoint, and stopped at the task's root (task->fs->root), so
 * a process in a container (pivot_root/chroot, its own mount namespace) gets the path as it sees it. Nothing of the
 * string the process passed is used: "//", ".", "..", symlinks and /proc/<pid>/root are whatever the kernel made of
 * them. Built backwards so that it ends at pb->buf[511] (a NUL); returns where it starts (511 = the root), or -1
 * when a read failed. *flags gets PAL_PATH_TRUNCATED (more than PAL_RESOLVE_DEPTH steps or PAL_PATH_MAX - 4 bytes:
 * the leading components are replaced by "...") and PAL_PATH_OUTSIDE_ROOT (the walk ended at a namespace's root
 * mount without meeting the task's root: a file of another mount namespace, e.g. through /proc/<other pid>/root).
 */
static __always_inline int task__resolve_build(struct path *path, struct pal_path_buf *pb, __u8 *flags)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	/* `path` is always a copy on the caller's stack: plain loads, no helper calls. */
	struct dentry *d = path->dentry;
	struct vfsmount *vfs = path->mnt;
	struct mount *mnt = container_of(vfs, struct mount, mnt);
	struct dentry *mnt_root;
	struct path root = {};
	__u32 pos = 511, len, i;

	*flags = 0;
	pb->buf[511] = '\0';
	/* task->fs->root in one read of the struct path; the mount's root dentry once per mount, not once per step. */
	BPF_CORE_READ_INTO(&root, task, fs, root);
	mnt_root = BPF_CORE_READ(vfs, mnt_root);
	for (i = 0; i < PAL_RESOLVE_DEPTH; i++) {
		struct task__dentry_step st;

		if (!d)
			break;
		if (d == root.dentry && vfs == root.mnt)
			goto done;  /* the task's root */
		if (d == mnt_root) {
			struct mount *up = BPF_CORE_READ(mnt, mnt_parent);

			if (!up || up == mnt) {
				*flags |= PAL_PATH_OUTSIDE_ROOT;  /* a namespace's root mount, not the task's root */
				goto done;
			}
			d = BPF_CORE_READ(mnt, mnt_mountpoint);
			mnt = up;
			vfs = &up->mnt;
			mnt_root = BPF_CORE_READ(vfs, mnt_root);
			continue;
		}
		if (task__dentry(d, &st) < 0)
			return -1;
		if (d == st.parent) {
			*flags |= PAL_PATH_OUTSIDE_ROOT;  /* a detached tree (lazy umount) */
			goto done;
		}
		if (st.parent == mnt_root && task__is_proc_self(d, task)) {
			if (pos < PAL_RESOLVE_LOW + 5)
				break;
			pos -= 5;
			pos &= 511;
			pb->buf[pos] = '/';
			pb->buf[(pos + 1) & 511] = 's';
			pb->buf[(pos + 2) & 511] = 'e';
			pb->buf[(pos + 3) & 511] = 'l';
			pb->buf[(pos + 4) & 511] = 'f';
			d = st.parent;
			continue;
		}
		len = st.name.len;
		if (len + 1 + PAL_RESOLVE_LOW > pos)
			break;
		pos -= len + 1;
		pos &= 511;
		len &= 255;
		pb->buf[pos] = '/';
		if (stats__check_read(bpf_probe_read_kernel(&pb->buf[(pos + 1) & 511], len, st.name.name),
				      PAL_STAT_READ_KERNEL_FAILED) < 0)
			return -1;
		d = st.parent;
	}
	/* Out of steps or room before the root: mark the cut so no absolute prefix can match what is left. */
	*flags |= PAL_PATH_TRUNCATED;
	pos -= 3;
	pos &= 511;
	pb->buf[pos] = '.';
	pb->buf[(pos + 1) & 511] = '.';
	pb->buf[(pos + 2) & 511] = '.';
done:
	return pos & 511;
}

/*
 * task__resolve_build, copied into out[PAL_PATH_MAX]. Returns the length with the NUL (2 for "/"), or -1 (out = "")
 * when nothing could be read.
 */
static __always_inline int task__resolve(struct path *path, char *out, __u8 *flags)
{
	struct pal_path_buf *pb = task__path_buf();
	int pos;
	long n;

	out[0] = '\0';
	*flags = 0;
	if (!pb)
		return -1;
	pos = task__resolve_build(path, pb, flags);
	if (pos < 0)
		return -1;
	if (pos == 511) {
		out[0] = '/';
		out[1] = '\0';
		return 2;
	}
	n = bpf_probe_read_kernel_str(out, PAL_PATH_MAX, &pb->buf[pos & 511]);
	if (n <= 0) {
		out[0] = '\0';
		return -1;
	}
	return n;
}

/* The task's working directory (task->fs->pwd), resolved like any other path (task__resolve: through mounts, up to
 * the task's root). Returns the length with the NUL, or -1 (out = ""); *truncated when leading components were cut. */
static __always_inline int task__cwd(struct task_struct *task, char *out, bool *truncated)
{
	struct path pwd;
	__u8 pflags = 0;
	int n;

	*truncated = false;
	if (stats__check_read(BPF_CORE_READ_INTO(&pwd, task, fs, pwd), PAL_STAT_READ_KERNEL_FAILED) < 0) {
		out[0] = '\0';
		return -1;
	}
	n = task__resolve(&pwd, out, &pflags);
	*truncated = (pflags & PAL_PATH_TRUNCATED) != 0;
	return n;
}

/*
 * Rewrites a relative path (path[0..len), NUL included) in place as cwd + "/" + path, cut to PAL_PATH_MAX. The
 * cwd is resolved (task__resolve_build) into pal_path_buf so that it ends at [511]; the relative path is copied after it at [512]. "." and
 * ".." components are kept as they are (resolving them would need the dentries). Returns the new length (NUL
 * included), or len unchanged when the cwd cannot be read.
 */
static __always_inline long task__join_cwd(char *path, long len)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct pal_path_buf *pb;
	struct path pwd;
	__u8 pflags;
	int pos;
	long n;

	if (len <= 1 || path[0] == '/')
		return len;
	pb = task__path_buf();
	if (!pb || stats__check_read(BPF_CORE_READ_INTO(&pwd, task, fs, pwd), PAL_STAT_READ_KERNEL_FAILED) < 0)
		return len;
	pos = task__resolve_build(&pwd, pb, &pflags);
	if (pos < 0)
		return len;
	pb->buf[511] = '/';
	len &= PAL_PATH_MAX * 2 - 1;
	if (len > PAL_PATH_MAX)
		len = PAL_PATH_MAX;
	if (stats__check_read(bpf_probe_read_kernel(&pb->buf[512], len, path), PAL_STAT_READ_KERNEL_FAILED) < 0)
		return len;
	pb->buf[512 + PAL_PATH_MAX - 1] = '\0';
	n = bpf_probe_read_kernel_str(path, PAL_PATH_MAX, &pb->buf[pos & 511]);
	return n > 0 ? n : len;
}

#endif /* PALISADE_TASK_BPF_H */
