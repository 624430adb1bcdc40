// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Hook: syscalls memfd_create enter+exit -> PAL_EVENT_MEMFD_CREATE (palisade.v1.MemfdCreate). An exec from the
 * memfd is flagged on the exec event (PAL_EXEC_FROM_MEMFD). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "palisade.h"
#include "maps.bpf.h"
#include "sysev.bpf.h"

PAL_KIND(MEMFD_CREATE)
SEC("tracepoint/syscalls/sys_enter_memfd_create")
int pal_memfd_create_in(struct trace_event_raw_sys_enter *ctx)
{
	sysev__enter(PAL_EVENT_MEMFD_CREATE, PAL_OP_MEMFD_CREATE, (__u32)ctx->args[1], 0, 0, 0, ctx->args[0], 0, 0);
	return 0;
}
PAL_SYSEV_EXIT(MEMFD_CREATE, memfd_create)
