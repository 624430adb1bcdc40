// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Hook: syscalls ptrace enter+exit -> PAL_EVENT_PTRACE (palisade.v1.Ptrace). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "palisade.h"
#include "maps.bpf.h"
#include "sysev.bpf.h"

PAL_KIND(PTRACE)
SEC("tracepoint/syscalls/sys_enter_ptrace")
int pal_ptrace_in(struct trace_event_raw_sys_enter *ctx)
{
	sysev__enter(PAL_EVENT_PTRACE, PAL_OP_PTRACE, ctx->args[0], (__u32)ctx->args[1], ctx->args[2], ctx->args[3], 0, 0,
		     0);
	return 0;
}
PAL_SYSEV_EXIT(PTRACE, ptrace)
