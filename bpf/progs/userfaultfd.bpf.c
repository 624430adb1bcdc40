// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Hook: syscalls userfaultfd enter+exit -> PAL_EVENT_USERFAULTFD (palisade.v1.Userfaultfd). A userfaultfd lets a
 * process stall the kernel on a page fault of its choosing, the classic way to win a kernel race (T1068); workloads
 * almost never need one. Optional: kernels without CONFIG_USERFAULTFD have no tracepoint. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "palisade.h"
#include "maps.bpf.h"
#include "sysev.bpf.h"

PAL_KIND(USERFAULTFD)
SEC("tracepoint/syscalls/sys_enter_userfaultfd")
int pal_userfaultfd_in(struct trace_event_raw_sys_enter *ctx)
{
	sysev__enter(PAL_EVENT_USERFAULTFD, PAL_OP_USERFAULTFD, (__u32)ctx->args[0], 0, 0, 0, 0, 0, 0);
	return 0;
}
PAL_SYSEV_EXIT(USERFAULTFD, userfaultfd)
