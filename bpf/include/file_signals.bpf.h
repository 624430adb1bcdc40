/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * File signals (issue 8): write intent and truncation of opens (pal_file_open_event.write_flags), and the ftruncate
 * half of the FILE_OP family, whose path is the fd's struct file resolved in the kernel like an open's.
 * link/linkat, symlink/symlinkat and truncate(path) use the common sysev__exit (bpf/include/sysev.bpf.h).
 */
#ifndef PALISADE_FILE_SIGNALS_BPF_H
#define PALISADE_FILE_SIGNALS_BPF_H

#include "maps.bpf.h"
#include "output.bpf.h"
#include "stats.bpf.h"
#include "task.bpf.h"
#include "filter.bpf.h"
#include "sysev.bpf.h"

/* uapi O_* (asm-generic/fcntl.h, x86-64) and fmode bits (include/linux/fs.h). fmode_t bits are #defines, not in
 * BTF, so CO-RE cannot relocate them: FMODE_WRITE and FMODE_CREATED (4.19+) have kept these values through 6.18. */
#define PAL_O_ACCMODE 00000003
#define PAL_O_CREAT 00000100
#define PAL_O_TRUNC 00001000
#define PAL_O_APPEND 00002000
#define PAL_FMODE_WRITE 0x2
#define PAL_FMODE_CREATED 0x100000
#ifndef PAL_S_IFREG
#define PAL_S_IFREG 0100000
#endif

/*
 * PAL_FILE_* of an open, at sys_exit. With the opened struct file the kernel's own answer (f_mode, the inode's
 * type): the kernel clears O_TRUNC's effect for a file it just created and for non-regular files, so
 * PAL_FILE_TRUNCATED_EXISTING means "a regular file that existed before this open was truncated to 0". Without a
 * file (the open failed) only what was asked for: no CREATED, no TRUNCATED_EXISTING.
 */
static __always_inline __u8 file_signals__open_flags(__u64 flags, struct file *file)
{
	__u8 w = 0;

	if (flags & PAL_O_TRUNC)
		w |= PAL_FILE_TRUNC;
	if (flags & PAL_O_APPEND)
		w |= PAL_FILE_APPEND;
	if (flags & PAL_O_CREAT)
		w |= PAL_FILE_CREAT;
	if (!file) {
		if (flags & PAL_O_ACCMODE)
			w |= PAL_FILE_WRITE;
		return w;
	}
	{
		__u32 fmode = BPF_CORE_READ(file, f_mode);
		__u16 imode = BPF_CORE_READ(file, f_inode, i_mode);

		if (fmode & PAL_FMODE_WRITE)
			w |= PAL_FILE_WRITE;
		if (fmode & PAL_FMODE_CREATED)
			w |= PAL_FILE_CREATED;
		else if ((flags & PAL_O_TRUNC) && (imode & PAL_S_IFMT) == PAL_S_IFREG)
			w |= PAL_FILE_TRUNCATED_EXISTING;
	}
	return w;
}

/*
 * sys_exit of ftruncate(fd, length): like sysev__exit, but str0 is the fd's f_path resolved in the kernel
 * (path_flags0 = PAL_PATH_RESOLVED | the walk's flags), and Drop path prefixes apply to it as they do to an open's
 * resolved path. Kept out of sysev__exit so the prefix loop is verified in this program only.
 */
static __always_inline void file_signals__ftruncate_exit(void *ctx, long ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct pal_filter_state *fs;
	struct pal_syscall_event *e;
	struct pal_stash_args *st;
	union pal_scratch *s;
	struct file *file;
	__u32 size, rule = 0;
	__u8 pflags = 0;

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
	e->str0[0] = e->str1[0] = e->str2[0] = '\0';
	file = sysev__fd_file((int)st->args[0]);
	if (file) {
		struct path fp;

		if (stats__check_read(bpf_probe_read_kernel(&fp, sizeof(fp), &file->f_path), PAL_STAT_READ_KERNEL_FAILED) == 0 &&
		    task__resolve(&fp, e->str0, &pflags) > 0)
			e->path_flags0 = pflags | PAL_PATH_RESOLVED;
	}
	fs = filter__state();
	if (fs && fs->prefix_count > 0 && (e->path_flags0 & PAL_PATH_RESOLVED) &&
	    (filter__path_actions(e->str0, fs->prefix_count, &rule) & PAL_ACTION_DROP)) {
		stats__inc(PAL_STAT_FILTERED);
		goto out;
	}
	size = offsetof(struct pal_syscall_event, base0);
	task__fill_header(&e->hdr, st->kind, size);
	output__submit(ctx, e, size);
out:
	bpf_map_delete_elem(&pal_stash_args, &tid);
}

#endif /* PALISADE_FILE_SIGNALS_BPF_H */
