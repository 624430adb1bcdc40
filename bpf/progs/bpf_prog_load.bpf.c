// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Hook: syscalls bpf enter+exit, cmd BPF_PROG_LOAD only -> PAL_EVENT_BPF_PROG_LOAD (palisade.v1.BpfProgLoad). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "palisade.h"
#include "maps.bpf.h"
#include "sysev.bpf.h"

#define PAL_BPF_PROG_LOAD 5

/* The head of union bpf_attr for BPF_PROG_LOAD (uapi, ABI-stable): prog_type, insn_cnt, ..., prog_name at 48. */
struct pal_prog_load_attr {
	__u32 prog_type;
	__u32 insn_cnt;
};

PAL_KIND(BPF_PROG_LOAD)
SEC("tracepoint/syscalls/sys_enter_bpf")
int pal_bpf_in(struct trace_event_raw_sys_enter *ctx)
{
	struct pal_prog_load_attr a = {};
	__u64 uattr = ctx->args[1];

	if ((int)ctx->args[0] != PAL_BPF_PROG_LOAD)
		return 0;
	stats__check_read(bpf_probe_read_user(&a, sizeof(a), (const void *)uattr), PAL_STAT_READ_USER_FAILED);
	/* prog_name (16 bytes, NUL-terminated by the kernel's own check) is read at sys_exit as str2. */
	sysev__enter(PAL_EVENT_BPF_PROG_LOAD, PAL_OP_BPF, a.prog_type, a.insn_cnt, PAL_BPF_PROG_LOAD, 0, 0, 0,
		     uattr ? uattr + 48 : 0);
	return 0;
}
PAL_SYSEV_EXIT(BPF_PROG_LOAD, bpf)
