// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Hook: syscalls unshare/setns enter+exit -> PAL_EVENT_NAMESPACE (palisade.v1.Namespace). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "palisade.h"
#include "maps.bpf.h"
#include "sysev.bpf.h"

PAL_KIND(NAMESPACE)
SEC("tracepoint/syscalls/sys_enter_unshare")
int pal_unshare_in(struct trace_event_raw_sys_enter *ctx)
{
	sysev__enter(PAL_EVENT_NAMESPACE, PAL_OP_UNSHARE, ctx->args[0], 0, 0, 0, 0, 0, 0);
	return 0;
}
PAL_SYSEV_EXIT(NAMESPACE, unshare)

PAL_KIND(NAMESPACE)
SEC("tracepoint/syscalls/sys_enter_setns")
int pal_setns_in(struct trace_event_raw_sys_enter *ctx)
{
	sysev__enter(PAL_EVENT_NAMESPACE, PAL_OP_SETNS, (__u32)ctx->args[0], ctx->args[1], 0, 0, 0, 0, 0);
	return 0;
}
PAL_SYSEV_EXIT(NAMESPACE, setns)
