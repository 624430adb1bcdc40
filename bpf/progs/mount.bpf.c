// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Hook: syscalls mount and umount (umount2(2) is sys_umount) enter+exit -> PAL_EVENT_MOUNT (palisade.v1.Mount).
 * Also the new mount API (Linux 5.2+), which does the same without mount(2): open_tree(OPEN_TREE_CLONE) is a bind
 * (source = the path cloned), move_mount attaches it (source = from path, target = to path, usually "" + a fd for
 * the source), fsopen names the filesystem type of a new mount (fstype). Optional: older kernels lack them. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "palisade.h"
#include "maps.bpf.h"
#include "sysev.bpf.h"

PAL_KIND(MOUNT)
SEC("tracepoint/syscalls/sys_enter_mount")
int pal_mount_in(struct trace_event_raw_sys_enter *ctx)
{
	sysev__enter(PAL_EVENT_MOUNT, PAL_OP_MOUNT, ctx->args[3], 0, 0, 0, ctx->args[0], ctx->args[1], ctx->args[2]);
	return 0;
}
PAL_SYSEV_EXIT(MOUNT, mount)

PAL_KIND(MOUNT)
SEC("tracepoint/syscalls/sys_enter_umount")
int pal_umount_in(struct trace_event_raw_sys_enter *ctx)
{
	sysev__enter(PAL_EVENT_MOUNT, PAL_OP_UMOUNT2, ctx->args[1], 0, 0, 0, 0, ctx->args[0], 0);
	return 0;
}
PAL_SYSEV_EXIT(MOUNT, umount)

PAL_KIND(MOUNT)
SEC("tracepoint/syscalls/sys_enter_open_tree")
int pal_open_tree_in(struct trace_event_raw_sys_enter *ctx)
{
	sysev__enter(PAL_EVENT_MOUNT, PAL_OP_OPEN_TREE, ctx->args[2], 0, 0, 0, ctx->args[1], 0, 0);
	return 0;
}
PAL_SYSEV_EXIT(MOUNT, open_tree)

PAL_KIND(MOUNT)
SEC("tracepoint/syscalls/sys_enter_move_mount")
int pal_move_mount_in(struct trace_event_raw_sys_enter *ctx)
{
	sysev__enter(PAL_EVENT_MOUNT, PAL_OP_MOVE_MOUNT, ctx->args[4], 0, 0, 0, ctx->args[1], ctx->args[3], 0);
	return 0;
}
PAL_SYSEV_EXIT(MOUNT, move_mount)

PAL_KIND(MOUNT)
SEC("tracepoint/syscalls/sys_enter_fsopen")
int pal_fsopen_in(struct trace_event_raw_sys_enter *ctx)
{
	sysev__enter(PAL_EVENT_MOUNT, PAL_OP_FSOPEN, ctx->args[1], 0, 0, 0, 0, 0, ctx->args[0]);
	return 0;
}
PAL_SYSEV_EXIT(MOUNT, fsopen)
