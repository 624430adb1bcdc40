/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef PALISADE_TASK_BPF_H
#define PALISADE_TASK_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "palisade.h"
#include "stats.bpf.h"

/* True for the collector's own thread group: its file opens would otherwise feed back into its own stream. */
static __always_inline bool task__is_ignored(__u64 pid_tgid)
{
	return pal_cfg.ignore_tgid != 0 && (__u32)(pid_tgid >> 32) == pal_cfg.ignore_tgid;
}

/* Fills the common header from the current task. Fields that cannot be read are left zero and counted. */
static __always_inline void task__fill_header(struct pal_event_header *h, __u16 kind, __u16 size)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct task_struct *parent = BPF_CORE_READ(task, real_parent);
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u64 uid_gid = bpf_get_current_uid_gid();

	h->kind = kind;
	h->size = size;
	h->cpu = bpf_get_smp_processor_id();
	h->ts_ns = bpf_ktime_get_boot_ns();
	h->pid = pid_tgid >> 32;
	h->tid = (__u32)pid_tgid;
	h->ppid = BPF_CORE_READ(parent, tgid);
	h->uid = (__u32)uid_gid;
	h->gid = uid_gid >> 32;
	h->euid = BPF_CORE_READ(task, cred, euid.val);
	h->cgroup_id = bpf_get_current_cgroup_id();
	if (bpf_get_current_comm(h->comm, sizeof(h->comm)) < 0)
		stats__inc(PAL_STAT_READ_KERNEL_FAILED);
	stats__check_read(bpf_probe_read_kernel_str(h->parent_comm, sizeof(h->parent_comm), &parent->comm),
			  PAL_STAT_READ_KERNEL_FAILED);
}

/* Leaf name of the task's cgroup v2 (default hierarchy) directory, e.g. cri-containerd-<id>.scope. */
static __always_inline void task__cgroup_name(struct task_struct *task, char *buf, __u32 len)
{
	const char *name = BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, name);

	buf[0] = '\0';
	if (!name || stats__check_read(bpf_probe_read_kernel_str(buf, len, name), PAL_STAT_READ_KERNEL_FAILED) < 0)
		buf[0] = '\0';
}

#endif /* PALISADE_TASK_BPF_H */
