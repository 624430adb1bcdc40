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

/*
 * tp_btf rather than the classic tracepoint: it hands us the typed bprm, so the filename is bprm->filename as the
 * kernel resolved it, with no tracefs lookup. At this point current->mm is already the new image, so
 * mm->arg_start..arg_end are the new argv.
 */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(pal_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct pal_exec_event *e;
	union pal_scratch *s;
	unsigned long arg_start, arg_end, len;

	/* current->comm is already the new binary's name here (begin_new_exec set it), so a DROP by binary name
	 * also drops the exec that starts it. */
	if (task__is_ignored(bpf_get_current_pid_tgid()) || filter__drop_current())
		return 0;
	s = output__scratch();
	if (!s)
		return 0;
	e = &s->exec;

	e->argc = BPF_CORE_READ(bprm, argc);
	e->flags = 0;
	e->_pad0 = 0;
	if (stats__check_read(bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), BPF_CORE_READ(bprm, filename)),
			      PAL_STAT_READ_KERNEL_FAILED) < 0)
		e->filename[0] = '\0';
	task__cgroup_name(task, e->cgroup_name, sizeof(e->cgroup_name));

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
