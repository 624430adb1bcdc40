// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Hook: syscalls init_module/finit_module enter+exit -> PAL_EVENT_MODULE_LOAD (palisade.v1.ModuleLoad). Loading a
 * kernel module from a container is an escape (T1547.006, T1611), and the attempt is the signal, refused or not.
 *
 * A kernel built without CONFIG_MODULES (such as the development VM's) has no tracepoints for them: the syscalls
 * are sys_ni_syscall and fail with ENOSYS. The attempt still enters the kernel, so there the same events come from
 * raw_syscalls:sys_enter/sys_exit filtered to the two syscall numbers (pal_module_raw_*). Those fire for every
 * syscall on the node, so each compares the number first and returns: any other syscall costs a load and two
 * compares (syscall tracepoints are already on for the other programs, so the slow syscall path is no new cost).
 * They are attached only where the module tracepoints are missing (PAL_UNLESS), never beside them. */
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

/* x86-64 syscall numbers (the build targets x86 only: -D__TARGET_ARCH_x86). A 32-bit task's compat numbers differ
 * and are not matched. */
#define PAL_NR_INIT_MODULE 175
#define PAL_NR_FINIT_MODULE 313

PAL_KIND(MODULE_LOAD) PAL_UNLESS("syscalls/sys_enter_finit_module")
SEC("tracepoint/raw_syscalls/sys_enter")
int pal_module_raw_in(struct trace_event_raw_sys_enter *ctx)
{
	long nr = ctx->id;

	if (nr == PAL_NR_FINIT_MODULE)
		sysev__enter(PAL_EVENT_MODULE_LOAD, PAL_OP_FINIT_MODULE, ctx->args[0], (__u32)ctx->args[2], 0, 0,
			     ctx->args[1], 0, 0);
	else if (nr == PAL_NR_INIT_MODULE)
		sysev__enter(PAL_EVENT_MODULE_LOAD, PAL_OP_INIT_MODULE, ctx->args[1], 0, 0, 0, ctx->args[2], 0, 0);
	return 0;
}

PAL_KIND(MODULE_LOAD) PAL_UNLESS("syscalls/sys_enter_finit_module")
SEC("tracepoint/raw_syscalls/sys_exit")
int pal_module_raw_out(struct trace_event_raw_sys_exit *ctx)
{
	long nr = ctx->id;

	if (nr == PAL_NR_FINIT_MODULE || nr == PAL_NR_INIT_MODULE)
		sysev__exit(ctx, ctx->ret);
	return 0;
}
