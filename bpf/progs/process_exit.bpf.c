// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Hook: sched_process_exit -> PAL_EVENT_PROCESS_EXIT (palisade.v1.ProcessExit). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "palisade.h"
#include "maps.bpf.h"
#include "output.bpf.h"
#include "task.bpf.h"
#include "filter.bpf.h"

/*
 * Only the first tracepoint argument is declared: kernels >= 6.16 pass a group_dead flag too, older ones do not,
 * and tid == tgid (the thread-group leader exiting) works on both. The leader's exit_code is the group's, because
 * do_exit() stores the group exit status before the tracepoint fires.
 */
PAL_REQUIRED PAL_KIND(PROCESS_EXIT)
SEC("tp_btf/sched_process_exit")
int BPF_PROG(pal_exit, struct task_struct *p)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct pal_exit_event *e;
	union pal_scratch *s;

	if ((__u32)pid_tgid != (__u32)(pid_tgid >> 32) || task__is_ignored(pid_tgid))
		return 0;
	if (filter__drop(PAL_EVENT_PROCESS_EXIT))
		return 0;
	s = output__scratch();
	if (!s)
		return 0;
	e = &s->exit;

	task__fill_header(&e->hdr, PAL_EVENT_PROCESS_EXIT, sizeof(*e));
	e->exit_code = BPF_CORE_READ(p, exit_code);
	e->_pad0 = 0;
	output__submit(ctx, e, sizeof(*e));
	return 0;
}
