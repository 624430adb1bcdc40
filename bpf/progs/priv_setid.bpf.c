// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Hook: syscalls setuid/setgid/setreuid/setregid/setresuid/setresgid enter+exit -> PAL_EVENT_PRIV_SETID
 * (palisade.v1.PrivSetid): requested ids, the ids before (cred at sys_enter) and after (cred at sys_exit). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "palisade.h"
#include "maps.bpf.h"
#include "sysev.bpf.h"

#define A(n) ((__u64)(__u32)ctx->args[n])
#define UNCHANGED 0xffffffffull

static __always_inline void setid__enter(__u16 op, __u64 r, __u64 e, __u64 s)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	const struct cred *cred = BPF_CORE_READ(task, cred);
	bool gid = op == PAL_OP_SETGID || op == PAL_OP_SETREGID || op == PAL_OP_SETRESGID;
	struct pal_stash_args st = {};

	if (!sysev__wanted(PAL_EVENT_PRIV_SETID))
		return;
	st.kind = PAL_EVENT_PRIV_SETID;
	st.op = op;
	st.args[0] = r;
	st.args[1] = e;
	st.args[2] = s;
	st.args[3] = gid ? BPF_CORE_READ(cred, gid.val) : BPF_CORE_READ(cred, uid.val);
	st.args[4] = gid ? BPF_CORE_READ(cred, egid.val) : BPF_CORE_READ(cred, euid.val);
	st.args[5] = gid ? BPF_CORE_READ(cred, sgid.val) : BPF_CORE_READ(cred, suid.val);
	sysev__stash(&st);
}

PAL_KIND(PRIV_SETID)
SEC("tracepoint/syscalls/sys_enter_setuid")
int pal_setuid_in(struct trace_event_raw_sys_enter *ctx)
{
	setid__enter(PAL_OP_SETUID, A(0), UNCHANGED, UNCHANGED);
	return 0;
}
PAL_SYSEV_EXIT(PRIV_SETID, setuid)

PAL_KIND(PRIV_SETID)
SEC("tracepoint/syscalls/sys_enter_setgid")
int pal_setgid_in(struct trace_event_raw_sys_enter *ctx)
{
	setid__enter(PAL_OP_SETGID, A(0), UNCHANGED, UNCHANGED);
	return 0;
}
PAL_SYSEV_EXIT(PRIV_SETID, setgid)

PAL_KIND(PRIV_SETID)
SEC("tracepoint/syscalls/sys_enter_setreuid")
int pal_setreuid_in(struct trace_event_raw_sys_enter *ctx)
{
	setid__enter(PAL_OP_SETREUID, A(0), A(1), UNCHANGED);
	return 0;
}
PAL_SYSEV_EXIT(PRIV_SETID, setreuid)

PAL_KIND(PRIV_SETID)
SEC("tracepoint/syscalls/sys_enter_setregid")
int pal_setregid_in(struct trace_event_raw_sys_enter *ctx)
{
	setid__enter(PAL_OP_SETREGID, A(0), A(1), UNCHANGED);
	return 0;
}
PAL_SYSEV_EXIT(PRIV_SETID, setregid)

PAL_KIND(PRIV_SETID)
SEC("tracepoint/syscalls/sys_enter_setresuid")
int pal_setresuid_in(struct trace_event_raw_sys_enter *ctx)
{
	setid__enter(PAL_OP_SETRESUID, A(0), A(1), A(2));
	return 0;
}
PAL_SYSEV_EXIT(PRIV_SETID, setresuid)

PAL_KIND(PRIV_SETID)
SEC("tracepoint/syscalls/sys_enter_setresgid")
int pal_setresgid_in(struct trace_event_raw_sys_enter *ctx)
{
	setid__enter(PAL_OP_SETRESGID, A(0), A(1), A(2));
	return 0;
}
PAL_SYSEV_EXIT(PRIV_SETID, setresgid)
