// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Hook: sched_process_exec -> PAL_EVENT_PROCESS_EXEC (palisade.v1.ProcessExec). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "palisade.h"
#include "maps.bpf.h"
#include "output.bpf.h"
#include "stats.bpf.h"
#include "task.bpf.h"
#include "filter.bpf.h"
#include "exec_env.bpf.h"
#include "sock.bpf.h"

/* Capabilities (cred after exec: what the new image runs with), namespaces and the audit login uid. */
static __always_inline void exec__creds_and_ns(struct task_struct *task, struct pal_exec_event *e)
{
	const struct cred *cred = BPF_CORE_READ(task, cred);
	struct pid *pid = BPF_CORE_READ(task, thread_pid);
	unsigned int level = BPF_CORE_READ(pid, level);
	struct pid_namespace *pidns = NULL;

	e->cap_effective = 0;
	e->cap_permitted = 0;
	/* kernel_cap_t is one u64 since 6.3 and two u32 before: the same 8 bytes either way. */
	stats__check_read(bpf_probe_read_kernel(&e->cap_effective, 8, &cred->cap_effective), PAL_STAT_READ_KERNEL_FAILED);
	stats__check_read(bpf_probe_read_kernel(&e->cap_permitted, 8, &cred->cap_permitted), PAL_STAT_READ_KERNEL_FAILED);
	/* The task's own pid namespace is the one at its pid's deepest level (nsproxy's is for its children). */
	stats__check_read(bpf_probe_read_kernel(&pidns, sizeof(pidns), &pid->numbers[level & 31].ns),
			  PAL_STAT_READ_KERNEL_FAILED);
	e->pid_ns = pidns ? BPF_CORE_READ(pidns, ns.inum) : 0;
	e->mnt_ns = BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum);
	e->net_ns = BPF_CORE_READ(task, nsproxy, net_ns, ns.inum);
	e->loginuid = 0xffffffff;
	if (bpf_core_field_exists(task->loginuid))
		e->loginuid = BPF_CORE_READ(task, loginuid.val);
}

/* fileless exec: the file is a memfd (its dentry is "memfd:<name>") or has no name left in any directory. */
static __always_inline bool exec__from_memfd(struct linux_binprm *bprm)
{
	struct file *file = BPF_CORE_READ(bprm, file);
	char name[8] = {};

	if (!file)
		return false;
	if (BPF_CORE_READ(file, f_inode, i_nlink) == 0)
		return true;
	if (bpf_probe_read_kernel(name, 6, BPF_CORE_READ(file, f_path.dentry, d_name.name)) < 0)
		return false;
	return name[0] == 'm' && name[1] == 'e' && name[2] == 'm' && name[3] == 'f' && name[4] == 'd' && name[5] == ':';
}

/* The executed file's path as the kernel resolved it: bprm->file's f_path, walked up to the task's root (so
 * symlinks, "..", /proc/self/root and a #! interpreter's real file are what ran, not the string passed). */
static __always_inline void exec__resolved(struct linux_binprm *bprm, struct pal_exec_event *e)
{
	struct file *file = BPF_CORE_READ(bprm, file);
	struct path fp;
	__u8 pflags = 0;

	e->resolved[0] = '\0';
	if (!file || stats__check_read(bpf_probe_read_kernel(&fp, sizeof(fp), &file->f_path),
				       PAL_STAT_READ_KERNEL_FAILED) < 0)
		return;
	if (task__resolve(&fp, e->resolved, &pflags) <= 0)
		return;
	e->flags |= PAL_EXEC_RESOLVED;
	if (pflags & PAL_PATH_TRUNCATED)
		e->flags |= PAL_EXEC_RESOLVED_TRUNCATED;
}

/*
 * tp_btf rather than the classic tracepoint: it hands us the typed bprm, so the filename is bprm->filename as the
 * kernel resolved it, with no tracefs lookup. At this point current->mm is already the new image, so
 * mm->arg_start..arg_end are the new argv.
 */
PAL_REQUIRED PAL_KIND(PROCESS_EXEC)
SEC("tp_btf/sched_process_exec")
int BPF_PROG(pal_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct pal_exec_event *e;
	union pal_scratch *s;
	unsigned long arg_start, arg_end, len;
	bool cwd_truncated = false;

	/* current->comm is already the new binary's name here (begin_new_exec set it), so a DROP by binary name
	 * also drops the exec that starts it. */
	exe__exec(filter__state(), bprm);  /* the new executable's cache entry, when the filter has exe selectors */
	if (task__is_ignored(bpf_get_current_pid_tgid()) || filter__drop(PAL_EVENT_PROCESS_EXEC))
		return 0;
	s = output__scratch();
	if (!s)
		return 0;
	e = &s->exec;
	/* The scratch still holds this CPU's last record: clear the fixed part, so the tails of short strings (filename,
	 * cwd, resolved, the LD_* values) carry no bytes of another process' event. */
	_Static_assert(__builtin_offsetof(struct pal_exec_event, args) % 8 == 0, "the fixed part is whole words");
#pragma clang loop unroll(disable)
	for (__u32 i = 0; i < __builtin_offsetof(struct pal_exec_event, args) / 8; i++)
		((volatile __u64 *)e)[i] = 0;  /* volatile: clang would make a memset the BPF backend refuses */

	e->argc = BPF_CORE_READ(bprm, argc);
	e->flags = 0;
	e->_pad0 = 0;
	if (stats__check_read(bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), BPF_CORE_READ(bprm, filename)),
			      PAL_STAT_READ_KERNEL_FAILED) < 0)
		e->filename[0] = '\0';
	task__cgroup_name(task, e->cgroup_name, sizeof(e->cgroup_name));
	exec__creds_and_ns(task, e);
	if (task__cwd(task, e->cwd, &cwd_truncated) >= 0 && cwd_truncated)
		e->flags |= PAL_EXEC_CWD_TRUNCATED;
	if (exec__from_memfd(bprm))
		e->flags |= PAL_EXEC_FROM_MEMFD;
	exec__resolved(bprm, e);
	exec_env__origin(bprm, e);  /* issue 8: executable origin and LD_* environment (include/exec_env.bpf.h) */
	exec_env__scan(task, e);
	sock__stdio(e->stdio); /* stdio sockets: fds 0..2 (sock.bpf.h) */

	arg_start = BPF_CORE_READ(task, mm, arg_start);
	arg_end = BPF_CORE_READ(task, mm, arg_end);
	len = arg_end > arg_start ? arg_end - arg_start : 0;
	if (len > PAL_ARGV_MAX_BYTES) {
		len = PAL_ARGV_MAX_BYTES;
		e->flags |= PAL_EXEC_ARGS_TRUNCATED;
	}
	/* Re-bound with a mask the verifier can follow through clang's register allocation. */
	len &= (PAL_ARGV_MAX_BYTES << 1) - 1;
	if (len > PAL_ARGV_MAX_BYTES)
		len = PAL_ARGV_MAX_BYTES;
	if (len && stats__check_read(bpf_probe_read_user(e->args, len, (const void *)arg_start),
				     PAL_STAT_READ_USER_FAILED) < 0)
		len = 0;
	e->args_len = len;

	task__fill_header(&e->hdr, PAL_EVENT_PROCESS_EXEC, offsetof(struct pal_exec_event, args) + len);
	output__submit(ctx, e, offsetof(struct pal_exec_event, args) + len);
	return 0;
}
