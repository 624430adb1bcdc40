// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Hook: syscalls io_uring_setup enter+exit -> PAL_EVENT_IO_URING (palisade.v1.IoUring). A ring's operations
 * (IORING_OP_OPENAT, CONNECT, READ, ...) are done by the kernel with no openat/connect syscall, so no syscall hook
 * sees them: an attacker who knows the rules reads /etc/shadow through one. The ring's creation is the signal
 * (container runtimes' default seccomp profiles block it; workloads in containers rarely use it). Optional: kernels
 * built without CONFIG_IO_URING have no tracepoint. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "palisade.h"
#include "maps.bpf.h"
#include "sysev.bpf.h"

PAL_KIND(IO_URING)
SEC("tracepoint/syscalls/sys_enter_io_uring_setup")
int pal_io_uring_setup_in(struct trace_event_raw_sys_enter *ctx)
{
	__u32 flags = 0;
	/* struct io_uring_params { __u32 sq_entries; __u32 cq_entries; __u32 flags; ... } */
	const char *params = (const char *)ctx->args[1];

	if (params && bpf_probe_read_user(&flags, sizeof(flags), params + 8) < 0)
		flags = 0;
	sysev__enter(PAL_EVENT_IO_URING, PAL_OP_IO_URING_SETUP, (__u32)ctx->args[0], flags, 0, 0, 0, 0, 0);
	return 0;
}
PAL_SYSEV_EXIT(IO_URING, io_uring_setup)
