// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Hook: syscalls unlink/unlinkat/rename/renameat/renameat2/chmod/fchmodat/fchmodat2/chown/fchownat/lchown,
 * link/linkat/symlink/symlinkat/truncate/ftruncate enter+exit -> PAL_EVENT_FILE_OP (palisade.v1.FileOp). Paths are
 * as passed, with the directory a relative one starts from resolved in the kernel (base0/base1, sysev__base). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "palisade.h"
#include "maps.bpf.h"
#include "sysev.bpf.h"
#include "file_signals.bpf.h"

#define A(n) ((__u64)ctx->args[n])
#define PAL_AT_FDCWD ((__u64)(__s64)-100)

PAL_KIND(FILE_OP)
SEC("tracepoint/syscalls/sys_enter_unlink")
int pal_unlink_in(struct trace_event_raw_sys_enter *ctx)
{
	sysev__enter(PAL_EVENT_FILE_OP, PAL_OP_UNLINK, PAL_AT_FDCWD, 0, 0, 0, A(0), 0, 0);
	return 0;
}
PAL_SYSEV_EXIT(FILE_OP, unlink)

PAL_KIND(FILE_OP)
SEC("tracepoint/syscalls/sys_enter_unlinkat")
int pal_unlinkat_in(struct trace_event_raw_sys_enter *ctx)
{
	sysev__enter(PAL_EVENT_FILE_OP, PAL_OP_UNLINKAT, A(0), A(2), 0, 0, A(1), 0, 0);
	return 0;
}
PAL_SYSEV_EXIT(FILE_OP, unlinkat)

PAL_KIND(FILE_OP)
SEC("tracepoint/syscalls/sys_enter_rename")
int pal_rename_in(struct trace_event_raw_sys_enter *ctx)
{
	sysev__enter(PAL_EVENT_FILE_OP, PAL_OP_RENAME, PAL_AT_FDCWD, PAL_AT_FDCWD, 0, 0, A(0), A(1), 0);
	return 0;
}
PAL_SYSEV_EXIT(FILE_OP, rename)

PAL_KIND(FILE_OP)
SEC("tracepoint/syscalls/sys_enter_renameat")
int pal_renameat_in(struct trace_event_raw_sys_enter *ctx)
{
	sysev__enter(PAL_EVENT_FILE_OP, PAL_OP_RENAMEAT, A(0), A(2), 0, 0, A(1), A(3), 0);
	return 0;
}
PAL_SYSEV_EXIT(FILE_OP, renameat)

PAL_KIND(FILE_OP)
SEC("tracepoint/syscalls/sys_enter_renameat2")
int pal_renameat2_in(struct trace_event_raw_sys_enter *ctx)
{
	sysev__enter(PAL_EVENT_FILE_OP, PAL_OP_RENAMEAT2, A(0), A(2), A(4), 0, A(1), A(3), 0);
	return 0;
}
PAL_SYSEV_EXIT(FILE_OP, renameat2)

PAL_KIND(FILE_OP)
SEC("tracepoint/syscalls/sys_enter_chmod")
int pal_chmod_in(struct trace_event_raw_sys_enter *ctx)
{
	sysev__enter(PAL_EVENT_FILE_OP, PAL_OP_CHMOD, PAL_AT_FDCWD, A(1), 0, 0, A(0), 0, 0);
	return 0;
}
PAL_SYSEV_EXIT(FILE_OP, chmod)

PAL_KIND(FILE_OP)
SEC("tracepoint/syscalls/sys_enter_fchmodat")
int pal_fchmodat_in(struct trace_event_raw_sys_enter *ctx)
{
	sysev__enter(PAL_EVENT_FILE_OP, PAL_OP_FCHMODAT, A(0), A(2), 0, 0, A(1), 0, 0);
	return 0;
}
PAL_SYSEV_EXIT(FILE_OP, fchmodat)

/* fchmodat2 (6.6+) is what glibc's fchmodat(AT_SYMLINK_NOFOLLOW) calls: same op, flags in arg2. */
PAL_KIND(FILE_OP)
SEC("tracepoint/syscalls/sys_enter_fchmodat2")
int pal_fchmodat2_in(struct trace_event_raw_sys_enter *ctx)
{
	sysev__enter(PAL_EVENT_FILE_OP, PAL_OP_FCHMODAT, A(0), A(2), A(3), 0, A(1), 0, 0);
	return 0;
}
PAL_SYSEV_EXIT(FILE_OP, fchmodat2)

PAL_KIND(FILE_OP)
SEC("tracepoint/syscalls/sys_enter_chown")
int pal_chown_in(struct trace_event_raw_sys_enter *ctx)
{
	sysev__enter(PAL_EVENT_FILE_OP, PAL_OP_CHOWN, PAL_AT_FDCWD, A(1), A(2), 0, A(0), 0, 0);
	return 0;
}
PAL_SYSEV_EXIT(FILE_OP, chown)

PAL_KIND(FILE_OP)
SEC("tracepoint/syscalls/sys_enter_lchown")
int pal_lchown_in(struct trace_event_raw_sys_enter *ctx)
{
	sysev__enter(PAL_EVENT_FILE_OP, PAL_OP_LCHOWN, PAL_AT_FDCWD, A(1), A(2), 0, A(0), 0, 0);
	return 0;
}
PAL_SYSEV_EXIT(FILE_OP, lchown)

PAL_KIND(FILE_OP)
SEC("tracepoint/syscalls/sys_enter_fchownat")
int pal_fchownat_in(struct trace_event_raw_sys_enter *ctx)
{
	sysev__enter(PAL_EVENT_FILE_OP, PAL_OP_FCHOWNAT, A(0), A(2), A(3), A(4), A(1), 0, 0);
	return 0;
}
PAL_SYSEV_EXIT(FILE_OP, fchownat)

/* ---- file signals (issue 8): links, symlinks, truncation ---------------------------------------------------- */

PAL_KIND(FILE_OP)
SEC("tracepoint/syscalls/sys_enter_link")
int pal_link_in(struct trace_event_raw_sys_enter *ctx)
{
	sysev__enter(PAL_EVENT_FILE_OP, PAL_OP_LINK, PAL_AT_FDCWD, PAL_AT_FDCWD, 0, 0, A(0), A(1), 0);
	return 0;
}
PAL_SYSEV_EXIT(FILE_OP, link)

PAL_KIND(FILE_OP)
SEC("tracepoint/syscalls/sys_enter_linkat")
int pal_linkat_in(struct trace_event_raw_sys_enter *ctx)
{
	sysev__enter(PAL_EVENT_FILE_OP, PAL_OP_LINKAT, A(0), A(2), A(4), 0, A(1), A(3), 0);
	return 0;
}
PAL_SYSEV_EXIT(FILE_OP, linkat)

/* symlink(target, linkpath): the target is text stored in the link, resolved by nobody until the link is used. */
PAL_KIND(FILE_OP)
SEC("tracepoint/syscalls/sys_enter_symlink")
int pal_symlink_in(struct trace_event_raw_sys_enter *ctx)
{
	sysev__enter(PAL_EVENT_FILE_OP, PAL_OP_SYMLINK, PAL_AT_FDCWD, PAL_AT_FDCWD, 0, 0, A(0), A(1), 0);
	return 0;
}
PAL_SYSEV_EXIT(FILE_OP, symlink)

PAL_KIND(FILE_OP)
SEC("tracepoint/syscalls/sys_enter_symlinkat")
int pal_symlinkat_in(struct trace_event_raw_sys_enter *ctx)
{
	sysev__enter(PAL_EVENT_FILE_OP, PAL_OP_SYMLINKAT, PAL_AT_FDCWD, A(1), 0, 0, A(0), A(2), 0);
	return 0;
}
PAL_SYSEV_EXIT(FILE_OP, symlinkat)

PAL_KIND(FILE_OP)
SEC("tracepoint/syscalls/sys_enter_truncate")
int pal_truncate_in(struct trace_event_raw_sys_enter *ctx)
{
	sysev__enter(PAL_EVENT_FILE_OP, PAL_OP_TRUNCATE, PAL_AT_FDCWD, A(1), 0, 0, A(0), 0, 0);
	return 0;
}
PAL_SYSEV_EXIT(FILE_OP, truncate)

PAL_KIND(FILE_OP)
SEC("tracepoint/syscalls/sys_enter_ftruncate")
int pal_ftruncate_in(struct trace_event_raw_sys_enter *ctx)
{
	sysev__enter(PAL_EVENT_FILE_OP, PAL_OP_FTRUNCATE, A(0), A(1), 0, 0, 0, 0, 0);
	return 0;
}

PAL_KIND(FILE_OP)
SEC("tracepoint/syscalls/sys_exit_ftruncate")
int pal_ftruncate_out(struct trace_event_raw_sys_exit *ctx)
{
	file_signals__ftruncate_exit(ctx, ctx->ret);
	return 0;
}
