// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Hook: sched_process_fork (new thread groups only) -> PAL_EVENT_PROCESS_FORK (palisade.v1.ProcessFork). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "palisade.h"
#include "maps.bpf.h"
#include "sysev.bpf.h"

/* Fires in the parent's context after copy_process: the header describes the parent. Threads (CLONE_THREAD) are
 * skipped: they share the process' identity and would multiply the volume. */
PAL_REQUIRED PAL_KIND(PROCESS_FORK)
SEC("tp_btf/sched_process_fork")
int BPF_PROG(pal_fork, struct task_struct *parent, struct task_struct *child)
{
	struct pal_fork_event *e;
	union pal_scratch *s;
	__u32 pid = BPF_CORE_READ(child, tgid), tid = BPF_CORE_READ(child, pid);

	if (pid != tid || !sysev__wanted(PAL_EVENT_PROCESS_FORK))
		return 0;
	s = output__scratch();
	if (!s)
		return 0;
	e = &s->fork;
	e->child_pid = pid;
	e->child_tid = tid;
	e->clone_flags = BPF_CORE_READ(child, exit_signal);
	e->_pad0 = 0;
	task__fill_header(&e->hdr, PAL_EVENT_PROCESS_FORK, sizeof(*e));
	output__submit(ctx, e, sizeof(*e));
	return 0;
}
