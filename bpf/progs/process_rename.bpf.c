// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Hook: task:task_rename (tp_btf) -> PAL_EVENT_PROCESS_RENAME (palisade.v1.ProcessRename). __set_task_comm fires
 * it for prctl(PR_SET_NAME), for a write to /proc/<pid>/comm (or /proc/<pid>/task/<tid>/comm), and for exec, which
 * names the task after the new binary: that one is the exec event's business and is left out here (the current
 * syscall is execve/execveat). Kernel threads naming themselves are left out too. Fired before the copy, so
 * task->comm is still the old name. Optional: a kernel without the tracepoint's BTF has no renames reported.
 *
 * tp_btf rather than the classic tracepoint: it hands over the renamed task itself (6.1 and 6.18 both pass
 * (struct task_struct *task, const char *comm); the classic format's fields moved between versions).
 */
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
#include "exe.bpf.h"

#define PAL_PF_KTHREAD 0x00200000
/* x86-64 syscall numbers (the build targets x86 only: -D__TARGET_ARCH_x86). */
#define PAL_NR_PRCTL 157
#define PAL_NR_EXECVE 59
#define PAL_NR_EXECVEAT 322

PAL_KIND(PROCESS_RENAME)
SEC("tp_btf/task_rename")
int BPF_PROG(pal_rename, struct task_struct *task, const char *comm)
{
	struct task_struct *cur = bpf_get_current_task_btf();
	struct pal_process_rename_event *e;
	struct pt_regs *regs;
	union pal_scratch *s;
	__u8 pflags = 0;
	long nr = -1;
	int len;

	if (task__is_ignored(bpf_get_current_pid_tgid()) || (cur->flags & PAL_PF_KTHREAD))
		return 0;
	regs = (struct pt_regs *)bpf_task_pt_regs(cur);
	if (regs)
		nr = BPF_CORE_READ(regs, orig_ax);
	if (nr == PAL_NR_EXECVE || nr == PAL_NR_EXECVEAT)
		return 0;  /* exec's own rename */
	if (filter__drop(PAL_EVENT_PROCESS_RENAME))
		return 0;
	s = output__scratch();
	if (!s)
		return 0;
	e = &s->rename;
	e->target_pid = BPF_CORE_READ(task, tgid);
	e->target_tid = BPF_CORE_READ(task, pid);
	e->op = nr == PAL_NR_PRCTL ? PAL_OP_PRCTL : PAL_OP_TASK_RENAME;
	e->exe_flags = 0;
	e->_pad0[0] = e->_pad0[1] = e->_pad0[2] = 0;
	if (stats__check_read(bpf_probe_read_kernel(e->old_comm, sizeof(e->old_comm), &task->comm),
			      PAL_STAT_READ_KERNEL_FAILED) < 0)
		e->old_comm[0] = '\0';
	e->old_comm[PAL_COMM_LEN - 1] = '\0';
	if (stats__check_read(bpf_probe_read_kernel_str(e->new_comm, sizeof(e->new_comm), comm),
			      PAL_STAT_READ_KERNEL_FAILED) < 0)
		e->new_comm[0] = '\0';
	len = exe__path_of(task, e->exe, &pflags);
	if (len > 0) {
		e->exe_flags |= PAL_EXE_PATH_KNOWN;
		if (pflags & PAL_PATH_TRUNCATED)
			e->exe_flags |= PAL_EXE_PATH_TRUNCATED;
	} else {
		e->exe[0] = '\0';
		len = 1;
	}
	len &= PAL_PATH_MAX * 2 - 1;
	if (len > PAL_PATH_MAX)
		len = PAL_PATH_MAX;
	e->exe_len = len;
	task__fill_header(&e->hdr, PAL_EVENT_PROCESS_RENAME, offsetof(struct pal_process_rename_event, exe) + len);
	output__submit(ctx, e, offsetof(struct pal_process_rename_event, exe) + len);
	return 0;
}
