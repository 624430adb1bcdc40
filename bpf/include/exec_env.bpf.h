/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Exec signals of issue 8 (bpf/README.md "Exec environment and executable origin"), called from pal_exec:
 *   exec_env__scan    LD_PRELOAD, LD_LIBRARY_PATH and LD_AUDIT in the new image's environment, with bounded reads
 *   exec_env__origin  bprm->file's filesystem (tmpfs/ramfs, overlay and its upper layer) and inode ctime/mtime
 */
#ifndef PALISADE_EXEC_ENV_BPF_H
#define PALISADE_EXEC_ENV_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "palisade.h"
#include "maps.bpf.h"
#include "stats.bpf.h"

#define PAL_TMPFS_MAGIC 0x01021994
#define PAL_RAMFS_MAGIC 0x858458f6
#define PAL_OVERLAYFS_SUPER_MAGIC 0x794c7630

/* "LD_PRELO" "LD_AUDIT" "LD_LIBRA" "RY_PATH=" as little-endian words, and the 3/1 bytes after them. */
#define PAL_ENV_W_LD_PRELO 0x4f4c4552505f444cULL
#define PAL_ENV_W_LD_AUDIT 0x54494455415f444cULL
#define PAL_ENV_W_LD_LIBRA 0x415242494c5f444cULL
#define PAL_ENV_W_RY_PATH 0x3d485441505f5952ULL
#define PAL_ENV_T_AD_EQ 0x3d4441ULL   /* "AD=" */
#define PAL_ENV_T_EQ 0x3dULL          /* "=" */

/*
 * Where the scan is, across bpf_loop iterations. It lives in pal_path_buf (after the chunk), not on the caller's
 * stack: kernels before 6.7 verify a bpf_loop callback as if it ran once, with the ctx's stack contents as at the
 * call (all zero here), so branches that only later iterations take (a string going on past a chunk) could be
 * judged dead and removed. Map memory is never assumed constant, so every branch stays.
 */
struct exec_env__scan_ctx {
	__u64 p;             /* user address of the next byte to read */
	__u64 end;           /* mm->env_end */
	__u32 count;         /* strings started */
	__u32 bytes;         /* bytes read so far */
	__u16 flags;         /* PAL_ENV_* */
	__u8 mid;            /* 1: p is inside a string longer than one chunk (not at a name) */
	__u8 _pad0;
};

/* Copies the value after a matched NAME= (name_len bytes into the chunk) into out[PAL_ENV_VALUE_MAX]. The chunk is
 * NUL-terminated by bpf_probe_read_user_str, so the copy stops at the string's end or at the bound. */
static __always_inline __u16 exec_env__value(char *out, const char *chunk, __u32 name_len, long n, __u16 present,
					     __u16 cut)
{
	long v = bpf_probe_read_kernel_str(out, PAL_ENV_VALUE_MAX, chunk + name_len);

	if (v < 0) {
		out[0] = '\0';
		return present;
	}
	/* Cut: the chunk itself was full (the string goes on), or the value did not fit the field. */
	if (n >= PAL_ENV_CHUNK || n - 1 - (long)name_len > PAL_ENV_VALUE_MAX - 1)
		return present | cut;
	return present;
}

/*
 * One bpf_loop step: reads one chunk of the environment at c->p (bpf_probe_read_user_str: up to PAL_ENV_CHUNK bytes,
 * stopping at the string's NUL). A string longer than a chunk is skipped chunk by chunk (c->mid). At a string's start
 * the first 16 bytes are compared with the watched names; the last occurrence of a name wins, as in ld.so.
 * Returns 1 (stop) at env_end, at PAL_ENV_SCAN_BYTES, or when a read fails.
 */
#define PAL_ENV_STATE_AT 512
_Static_assert(PAL_ENV_CHUNK <= PAL_ENV_STATE_AT, "the chunk ends before the scan state");
_Static_assert(PAL_ENV_STATE_AT + sizeof(struct exec_env__scan_ctx) <= PAL_PATH_BUF, "the state fits pal_path_buf");

static long exec_env__step(__u32 index, void *data)
{
	__u32 zero = 0;
	struct pal_path_buf *pb = bpf_map_lookup_elem(&pal_path_buf, &zero);
	union pal_scratch *s = bpf_map_lookup_elem(&pal_scratch, &zero);
	struct exec_env__scan_ctx *c;
	struct pal_exec_event *e;
	char *chunk;
	__u64 w0, w1;
	__u8 was_mid;
	long n;

	if (!pb || !s)
		return 1;
	c = (struct exec_env__scan_ctx *)&pb->buf[PAL_ENV_STATE_AT];
	if (c->p >= c->end || c->bytes >= PAL_ENV_SCAN_BYTES)
		return 1;
	e = &s->exec;
	chunk = pb->buf;
	n = bpf_probe_read_user_str(chunk, PAL_ENV_CHUNK, (const void *)c->p);
	/* An empty string: kernels without the fix to strncpy_from_user_nofault (6.1 among them) return 0 for it, not 1.
	 * envp may hold "" (and a long string's continuation can start at its NUL), so 0 must not end the scan. */
	if (n == 0)
		n = 1;
	if (n < 0) {
		stats__inc(PAL_STAT_READ_USER_FAILED);
		c->flags |= PAL_ENV_READ_FAILED;
		return 1;
	}
	was_mid = c->mid;
	if (!was_mid)
		c->count++;
	if (n >= PAL_ENV_CHUNK) {
		/* A full chunk: the string may go on. The next read starts at its last byte read, as the same string. */
		c->mid = 1;
		c->p += PAL_ENV_CHUNK - 1;
		c->bytes += PAL_ENV_CHUNK - 1;
	} else {
		c->mid = 0;
		c->p += n;
		c->bytes += n;
	}
	if (was_mid)
		return 0;  /* the rest of a long string: no name here */
	w0 = *(__u64 *)&chunk[0];
	w1 = *(__u64 *)&chunk[8];
	if ((w0 & 0xffffff) != 0x5f444c)  /* "LD_" */
		return 0;
	if (w0 == PAL_ENV_W_LD_PRELO && (w1 & 0xffffff) == PAL_ENV_T_AD_EQ)
		e->env_flags = (e->env_flags & ~(PAL_ENV_LD_PRELOAD | PAL_ENV_LD_PRELOAD_CUT)) |
			       exec_env__value(e->env_ld_preload, chunk, 11, n, PAL_ENV_LD_PRELOAD, PAL_ENV_LD_PRELOAD_CUT);
	else if (w0 == PAL_ENV_W_LD_AUDIT && (w1 & 0xff) == PAL_ENV_T_EQ)
		e->env_flags = (e->env_flags & ~(PAL_ENV_LD_AUDIT | PAL_ENV_LD_AUDIT_CUT)) |
			       exec_env__value(e->env_ld_audit, chunk, 9, n, PAL_ENV_LD_AUDIT, PAL_ENV_LD_AUDIT_CUT);
	else if (w0 == PAL_ENV_W_LD_LIBRA && w1 == PAL_ENV_W_RY_PATH)
		e->env_flags = (e->env_flags & ~(PAL_ENV_LD_LIBRARY_PATH | PAL_ENV_LD_LIBRARY_PATH_CUT)) |
			       exec_env__value(e->env_ld_library_path, chunk, 16, n, PAL_ENV_LD_LIBRARY_PATH,
					       PAL_ENV_LD_LIBRARY_PATH_CUT);
	return 0;
}

/*
 * The watched variables of the new image (current->mm: at sched_process_exec the environment has just been copied
 * onto the new stack, so its pages are there). Bounded by PAL_ENV_SCAN_STEPS reads and PAL_ENV_SCAN_BYTES bytes:
 * an environment padded past them sets PAL_ENV_SCAN_INCOMPLETE, so a variable hidden behind padding at least
 * leaves that signal.
 */
static __always_inline void exec_env__scan(struct task_struct *task, struct pal_exec_event *e)
{
	__u32 zero = 0;
	struct pal_path_buf *pb = bpf_map_lookup_elem(&pal_path_buf, &zero);
	struct exec_env__scan_ctx *c;
	__u64 start = BPF_CORE_READ(task, mm, env_start);
	__u64 end = BPF_CORE_READ(task, mm, env_end);

	e->env_flags = 0;
	e->env_count = 0;
	e->env_bytes = end > start ? (__u32)(end - start) : 0;
	e->env_ld_preload[0] = '\0';
	e->env_ld_library_path[0] = '\0';
	e->env_ld_audit[0] = '\0';
	if (!pb) {
		stats__inc(PAL_STAT_SCRATCH_MISSING);
		if (end > start)
			e->env_flags |= PAL_ENV_SCAN_INCOMPLETE;
		return;
	}
	c = (struct exec_env__scan_ctx *)&pb->buf[PAL_ENV_STATE_AT];
	c->p = start;
	c->end = end;
	c->count = 0;
	c->bytes = 0;
	c->flags = 0;
	c->mid = 0;
	c->_pad0 = 0;
	bpf_loop(PAL_ENV_SCAN_STEPS, exec_env__step, NULL, 0);
	e->env_count = c->count;
	e->env_flags |= c->flags;
	if (c->p < c->end)
		e->env_flags |= PAL_ENV_SCAN_INCOMPLETE;
}

/* Inode timestamps across 6.1..6.18: i_ctime/i_mtime (timespec64, up to 6.5), __i_ctime (6.6), __i_mtime (6.7),
 * i_ctime_sec/_nsec and i_mtime_sec/_nsec (6.11 on). Only the member this kernel has is relocated and read. */
struct inode___pal_old {
	struct timespec64 i_ctime;
	struct timespec64 i_mtime;
} __attribute__((preserve_access_index));

struct inode___pal_v66 {
	struct timespec64 __i_ctime;
	struct timespec64 __i_mtime;
} __attribute__((preserve_access_index));

struct inode___pal_v611 {
	time64_t i_ctime_sec;
	time64_t i_mtime_sec;
	__u32 i_ctime_nsec;
	__u32 i_mtime_nsec;
} __attribute__((preserve_access_index));

/* The overlay inode around the VFS inode (fs/overlayfs/ovl_entry.h): a module's type, relocated against its BTF. */
struct ovl_inode___pal {
	struct inode vfs_inode;
	struct dentry *__upperdentry;
} __attribute__((preserve_access_index));

/* ns since the epoch; nsec masked to 30 bits (6.13's multigrain timestamps keep a flag in i_ctime_nsec's top bit). */
static __always_inline __u64 exec_env__ns(__s64 sec, __u32 nsec)
{
	if (sec <= 0)
		return 0;
	return (__u64)sec * 1000000000ULL + (nsec & 0x3fffffff);
}

static __always_inline bool exec_env__times(struct inode *inode, struct pal_exec_event *e)
{
	struct inode___pal_v611 *v611 = (void *)inode;
	struct inode___pal_v66 *v66 = (void *)inode;
	struct inode___pal_old *old = (void *)inode;
	bool ok = true;

	if (bpf_core_field_exists(v611->i_ctime_sec))
		e->exe_ctime_ns = exec_env__ns(BPF_CORE_READ(v611, i_ctime_sec), BPF_CORE_READ(v611, i_ctime_nsec));
	else if (bpf_core_field_exists(v66->__i_ctime))
		e->exe_ctime_ns = exec_env__ns(BPF_CORE_READ(v66, __i_ctime.tv_sec), BPF_CORE_READ(v66, __i_ctime.tv_nsec));
	else if (bpf_core_field_exists(old->i_ctime))
		e->exe_ctime_ns = exec_env__ns(BPF_CORE_READ(old, i_ctime.tv_sec), BPF_CORE_READ(old, i_ctime.tv_nsec));
	else
		ok = false;
	if (bpf_core_field_exists(v611->i_mtime_sec))
		e->exe_mtime_ns = exec_env__ns(BPF_CORE_READ(v611, i_mtime_sec), BPF_CORE_READ(v611, i_mtime_nsec));
	else if (bpf_core_field_exists(v66->__i_mtime))
		e->exe_mtime_ns = exec_env__ns(BPF_CORE_READ(v66, __i_mtime.tv_sec), BPF_CORE_READ(v66, __i_mtime.tv_nsec));
	else if (bpf_core_field_exists(old->i_mtime))
		e->exe_mtime_ns = exec_env__ns(BPF_CORE_READ(old, i_mtime.tv_sec), BPF_CORE_READ(old, i_mtime.tv_nsec));
	return ok && e->exe_ctime_ns != 0;
}

/*
 * Where the executed file lives: its superblock's magic (tmpfs/ramfs: PAL_ORIGIN_TMPFS; overlayfs: PAL_ORIGIN_OVERLAY
 * and, when the overlay's BTF is there, whether the inode has an upper dentry, i.e. was written or copied up in the
 * container rather than coming from an image layer), and its ctime/mtime (userspace compares ctime with the
 * container's start).
 */
static __always_inline void exec_env__origin(struct linux_binprm *bprm, struct pal_exec_event *e)
{
	struct file *file = BPF_CORE_READ(bprm, file);
	struct inode *inode = file ? BPF_CORE_READ(file, f_inode) : NULL;
	__u32 magic;

	e->origin_flags = 0;
	e->exe_fs_magic = 0;
	e->exe_ctime_ns = 0;
	e->exe_mtime_ns = 0;
	if (!inode)
		return;
	magic = (__u32)BPF_CORE_READ(inode, i_sb, s_magic);
	e->exe_fs_magic = magic;
	if (magic == PAL_TMPFS_MAGIC || magic == PAL_RAMFS_MAGIC)
		e->origin_flags |= PAL_ORIGIN_TMPFS;
	if (exec_env__times(inode, e))
		e->origin_flags |= PAL_ORIGIN_TIMES;
	if (magic != PAL_OVERLAYFS_SUPER_MAGIC)
		return;
	e->origin_flags |= PAL_ORIGIN_OVERLAY;
	if (bpf_core_type_exists(struct ovl_inode___pal) &&
	    bpf_core_field_exists(struct ovl_inode___pal, __upperdentry) &&
	    bpf_core_field_exists(struct ovl_inode___pal, vfs_inode)) {
		__u32 at_inode = bpf_core_field_offset(struct ovl_inode___pal, vfs_inode);
		__u32 at_upper = bpf_core_field_offset(struct ovl_inode___pal, __upperdentry);
		struct dentry *upper = NULL;

		if (stats__check_read(bpf_probe_read_kernel(&upper, sizeof(upper), (void *)inode - at_inode + at_upper),
				      PAL_STAT_READ_KERNEL_FAILED) < 0)
			return;
		e->origin_flags |= PAL_ORIGIN_OVERLAY_KNOWN;
		if (upper)
			e->origin_flags |= PAL_ORIGIN_OVERLAY_UPPER;
	}
}

#endif /* PALISADE_EXEC_ENV_BPF_H */
