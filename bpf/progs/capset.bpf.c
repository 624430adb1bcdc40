// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Hook: syscalls capset enter+exit -> PAL_EVENT_CAPSET (palisade.v1.Capset). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "palisade.h"
#include "maps.bpf.h"
#include "sysev.bpf.h"

/* The uapi structs (linux/capability.h), ABI-stable. */
struct pal_cap_header {
	__u32 version;
	int pid;
};

struct pal_cap_data {
	__u32 effective;
	__u32 permitted;
	__u32 inheritable;
};

PAL_KIND(CAPSET)
SEC("tracepoint/syscalls/sys_enter_capset")
int pal_capset_in(struct trace_event_raw_sys_enter *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct pal_cap_header hdr = {};
	struct pal_cap_data d[2] = {};
	struct pal_stash_args st = {};

	if (!sysev__wanted(PAL_EVENT_CAPSET))
		return 0;
	stats__check_read(bpf_probe_read_user(&hdr, sizeof(hdr), (const void *)ctx->args[0]), PAL_STAT_READ_USER_FAILED);
	/* v1 (0x19980330) has one data struct (32 bits), v2/v3 two; reading two from a v1 caller may fail: then one. */
	if (bpf_probe_read_user(d, sizeof(d), (const void *)ctx->args[1]) < 0)
		stats__check_read(bpf_probe_read_user(d, sizeof(d[0]), (const void *)ctx->args[1]),
				  PAL_STAT_READ_USER_FAILED);
	if (hdr.version == 0x19980330)
		d[1].effective = d[1].permitted = d[1].inheritable = 0;
	st.kind = PAL_EVENT_CAPSET;
	st.op = PAL_OP_CAPSET;
	st.args[0] = (__u32)hdr.pid;
	st.args[1] = d[0].effective | ((__u64)d[1].effective << 32);
	st.args[2] = d[0].permitted | ((__u64)d[1].permitted << 32);
	st.args[3] = d[0].inheritable | ((__u64)d[1].inheritable << 32);
	stats__check_read(bpf_probe_read_kernel(&st.args[4], 8, &BPF_CORE_READ(task, cred)->cap_effective),
			  PAL_STAT_READ_KERNEL_FAILED);
	sysev__stash(&st);
	return 0;
}
PAL_SYSEV_EXIT(CAPSET, capset)
