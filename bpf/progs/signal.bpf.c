// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Hook: syscalls kill/tkill/tgkill enter+exit -> PAL_EVENT_SIGNAL (palisade.v1.Signal). Only signals to another
 * thread group, and not signal 0 (an existence probe, which every supervisor sends all the time). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "palisade.h"
#include "maps.bpf.h"
#include "sysev.bpf.h"

static __always_inline void signal__enter(__u16 op, int pid, int sig, int tgid)
{
	__u32 self = bpf_get_current_pid_tgid() >> 32;

	if (sig == 0 || (op != PAL_OP_TKILL && pid == (int)self) || (op == PAL_OP_TGKILL && tgid == (int)self))
		return;
	/* tkill's tid may be one of our own threads: not knowable without a task lookup, so it is reported. */
	sysev__enter(PAL_EVENT_SIGNAL, op, (__u32)pid, (__u32)sig, (__u32)tgid, 0, 0, 0, 0);
}

PAL_KIND(SIGNAL)
SEC("tracepoint/syscalls/sys_enter_kill")
int pal_kill_in(struct trace_event_raw_sys_enter *ctx)
{
	signal__enter(PAL_OP_KILL, (int)ctx->args[0], (int)ctx->args[1], 0);
	return 0;
}
PAL_SYSEV_EXIT(SIGNAL, kill)

PAL_KIND(SIGNAL)
SEC("tracepoint/syscalls/sys_enter_tkill")
int pal_tkill_in(struct trace_event_raw_sys_enter *ctx)
{
	signal__enter(PAL_OP_TKILL, (int)ctx->args[0], (int)ctx->args[1], 0);
	return 0;
}
PAL_SYSEV_EXIT(SIGNAL, tkill)

PAL_KIND(SIGNAL)
SEC("tracepoint/syscalls/sys_enter_tgkill")
int pal_tgkill_in(struct trace_event_raw_sys_enter *ctx)
{
	signal__enter(PAL_OP_TGKILL, (int)ctx->args[1], (int)ctx->args[2], (int)ctx->args[0]);
	return 0;
}
PAL_SYSEV_EXIT(SIGNAL, tgkill)
