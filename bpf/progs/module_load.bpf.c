// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Hook: syscalls init_module/finit_module enter+exit -> PAL_EVENT_MODULE_LOAD (palisade.v1.ModuleLoad). Loading a
 * kernel module from a container is an escape (T1547.006, T1611). Optional: a kernel built without CONFIG_MODULES
 * (such as the development VM's) has no tracepoints for them, and the syscalls fail with ENOSYS there. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "palisade.h"
#include "maps.bpf.h"
#include "sysev.bpf.h"

/* init_module(void *umod, unsigned long len, const char *uargs) */
PAL_KIND(MODULE_LOAD)
SEC("tracepoint/syscalls/sys_enter_init_module")
int pal_init_module_in(struct trace_event_raw_sys_enter *ctx)
{
	sysev__enter(PAL_EVENT_MODULE_LOAD, PAL_OP_INIT_MODULE, ctx->args[1], 0, 0, 0, ctx->args[2], 0, 0);
	return 0;
}
PAL_SYSEV_EXIT(MODULE_LOAD, init_module)

/* finit_module(int fd, const char *uargs, int flags); sysev__exit adds the file's name from the fd. */
PAL_KIND(MODULE_LOAD)
SEC("tracepoint/syscalls/sys_enter_finit_module")
int pal_finit_module_in(struct trace_event_raw_sys_enter *ctx)
{
	sysev__enter(PAL_EVENT_MODULE_LOAD, PAL_OP_FINIT_MODULE, ctx->args[0], (__u32)ctx->args[2], 0, 0, ctx->args[1], 0, 0);
	return 0;
}
PAL_SYSEV_EXIT(MODULE_LOAD, finit_module)
