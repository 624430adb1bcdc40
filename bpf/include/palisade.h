/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The ONE header shared by the BPF programs (bpf/progs/) and userspace (native/src/). Fixed-width types only:
 * both sides must agree on every size and offset without depending on the compiler's idea of `long`.
 *
 * Keep in sync with:
 *   - services/collector/src/event-decoder.ts (LAYOUT: sizes and offsets, checked by event-decoder.test.ts
 *     against the addon's layout(), which is compiled from this very file)
 *   - proto/palisade/v1/events.proto (enum EventKind == enum pal_event_kind)
 *
 * Compatibility rules: event kind ids and stat ids are append-only; never reuse or renumber one. A record's
 * `size` is its total size in bytes, so a reader can skip kinds it does not know.
 */
#ifndef PALISADE_H
#define PALISADE_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define PAL_COMM_LEN 16
#define PAL_PATH_MAX 256          /* exec filename and open path; longer paths are cut (NUL-terminated) */
#define PAL_CGROUP_NAME_MAX 128   /* leaf cgroup name; cri-containerd-<64 hex>.scope is 84 bytes */
#define PAL_ARGV_MAX_BYTES 512    /* bytes of mm->arg_start..arg_end copied */
#define PAL_ARGV_MAX_ARGS 20      /* args kept by userspace out of those bytes */

/* Matches enum EventKind in proto/palisade/v1/events.proto. Append-only. */
enum pal_event_kind {
	PAL_EVENT_PROCESS_EXEC = 1,
	PAL_EVENT_PROCESS_EXIT = 2,
	PAL_EVENT_FILE_OPEN = 3,
	PAL_EVENT_NET_CONNECT = 4,
	PAL_EVENT_PROCESS_KILL = 5,   /* emitted only when PAL_FILTER_EMIT_KILL_EVENTS is set (see pal_filter_state) */
};

/* Index into the per-CPU stats array map (pal_stats). Append-only; names live in native/src/session.cc. */
enum pal_stat {
	PAL_STAT_EVENTS_EMITTED = 0,      /* records handed to the ring/perf buffer successfully */
	PAL_STAT_RINGBUF_OUTPUT_FAILED,   /* bpf_ringbuf_output failed: ring full, event lost */
	PAL_STAT_PERFBUF_OUTPUT_FAILED,   /* bpf_perf_event_output failed, event lost */
	PAL_STAT_SCRATCH_MISSING,         /* per-CPU scratch lookup returned NULL, event lost */
	PAL_STAT_READ_KERNEL_FAILED,      /* a bpf_probe_read_kernel* failed; the field is left empty */
	PAL_STAT_READ_USER_FAILED,        /* a bpf_probe_read_user* failed; the field is left empty */
	PAL_STAT_STASH_MISSING,           /* sys_exit without the matching sys_enter stash entry, event lost */
	PAL_STAT_STASH_UPDATE_FAILED,     /* stash map full at sys_enter, event lost */
	PAL_STAT_FILTERED,                /* event dropped on purpose by a DROP filter (not a loss) */
	PAL_STAT_KILLED,                  /* bpf_send_signal(SIGKILL) sent by a SIGKILL filter */
	PAL_STAT_KILL_FAILED,             /* bpf_send_signal failed: the process was NOT killed */
	PAL_STAT__COUNT,
};

/* Read-only config (.rodata), set by userspace between open and load. */
enum pal_output_mode {
	PAL_OUTPUT_RINGBUF = 0,
	PAL_OUTPUT_PERFBUF = 1,
};

struct pal_config {
	__u32 output_mode;   /* enum pal_output_mode */
	__u32 ignore_tgid;   /* events of this thread group are dropped (the collector itself); 0 = none */
	__u64 wakeup_bytes;  /* ringbuf: wake userspace only once this much data is waiting */
};

struct pal_event_header {
	__u16 kind;          /* enum pal_event_kind */
	__u16 size;          /* total record size in bytes, header included */
	__u32 cpu;
	__u64 ts_ns;         /* bpf_ktime_get_boot_ns(): CLOCK_BOOTTIME */
	__u32 pid;           /* tgid */
	__u32 tid;
	__u32 ppid;          /* real_parent->tgid */
	__u32 uid;
	__u32 gid;
	__u32 euid;
	__u64 cgroup_id;     /* cgroup v2 id == inode of the cgroup directory */
	char comm[PAL_COMM_LEN];
	char parent_comm[PAL_COMM_LEN];
};

#define PAL_EXEC_ARGS_TRUNCATED 0x1

/* Variable size: the record ends after args_len bytes of args. */
struct pal_exec_event {
	struct pal_event_header hdr;
	__u32 argc;          /* bprm->argc: how many args there were, kept or not */
	__u16 args_len;      /* valid bytes in args: NUL-separated, the last one possibly cut */
	__u8 flags;          /* PAL_EXEC_* */
	__u8 _pad0;
	char filename[PAL_PATH_MAX];
	char cgroup_name[PAL_CGROUP_NAME_MAX];
	char args[PAL_ARGV_MAX_BYTES];
};

struct pal_exit_event {
	struct pal_event_header hdr;
	__u32 exit_code;     /* raw task->exit_code: (status << 8) | signal */
	__u32 _pad0;
};

enum pal_open_syscall {
	PAL_SYSCALL_OPENAT = 1,
	PAL_SYSCALL_OPENAT2 = 2,
	PAL_SYSCALL_OPEN = 3,
};

/* Variable size: the record ends after path_len bytes of path (NUL included). */
struct pal_file_open_event {
	struct pal_event_header hdr;
	__s64 result;        /* fd, or -errno */
	__u64 flags;         /* O_* (u64 because openat2's open_how.flags is) */
	__u32 mode;
	__u16 syscall;       /* enum pal_open_syscall */
	__u16 path_len;
	char path[PAL_PATH_MAX];
};

struct pal_net_connect_event {
	struct pal_event_header hdr;
	__s64 result;        /* 0, -EINPROGRESS or -errno */
	__u16 family;        /* AF_INET or AF_INET6 */
	__u16 dport;         /* host byte order */
	__u8 protocol;       /* IPPROTO_TCP, IPPROTO_UDP, ... (sk->sk_protocol); 0 if unknown */
	__u8 _pad0[3];
	__u8 daddr[16];      /* network byte order; AF_INET uses the first 4 bytes */
};

/*
 * In-kernel filter (maps pal_filter_comm, pal_filter_prefix, pal_filter_state), written by the addon's
 * setFilter() while the programs stay attached. Actions are bit flags.
 */
#define PAL_FILTER_COMM_ENTRIES 1024
#define PAL_FILTER_PREFIXES 16
#define PAL_FILTER_PREFIX_MAX 64  /* bytes of a path prefix, no NUL */

enum pal_filter_action {
	PAL_ACTION_DROP = 0x1,     /* do not emit: counted in PAL_STAT_FILTERED */
	PAL_ACTION_SIGKILL = 0x2,  /* bpf_send_signal(SIGKILL) at sys_enter of the open */
};

/* pal_filter_comm key: the task's comm exactly as the kernel keeps it (15 bytes max), NUL-padded to 16. */
struct pal_filter_comm_key {
	char comm[PAL_COMM_LEN];
};

struct pal_filter_comm_value {
	__u32 actions;       /* enum pal_filter_action bits */
	__u32 _pad0;
};

/* pal_filter_prefix[i]; len == 0 is an empty slot. Matches when the open's path starts with prefix[0..len). */
struct pal_filter_prefix {
	__u32 len;
	__u32 actions;       /* enum pal_filter_action bits */
	char prefix[PAL_FILTER_PREFIX_MAX];
};

#define PAL_FILTER_EMIT_KILL_EVENTS 0x1  /* emit a PAL_EVENT_PROCESS_KILL record per kill */

/* pal_filter_state[0]: what the hot path needs to know to skip the filter entirely when it is empty. */
struct pal_filter_state {
	__u32 comm_count;    /* entries in pal_filter_comm; 0 = skip the lookup */
	__u32 prefix_count;  /* slots of pal_filter_prefix in use, packed from 0 */
	__u32 prefix_kill;   /* of those, how many have PAL_ACTION_SIGKILL: > 0 = read the path at sys_enter */
	__u32 flags;         /* PAL_FILTER_* */
};

enum pal_kill_reason {
	PAL_KILL_BINARY = 1,       /* pal_filter_comm matched */
	PAL_KILL_PATH_PREFIX = 2,  /* pal_filter_prefix[rule] matched */
};

/* Variable size: the record ends after path_len bytes of path (NUL included). */
struct pal_process_kill_event {
	struct pal_event_header hdr;
	__u32 signal;        /* 9 */
	__u16 reason;        /* enum pal_kill_reason */
	__u16 syscall;       /* enum pal_open_syscall of the syscall the process was killed in */
	__u32 rule;          /* pal_filter_prefix slot for PAL_KILL_PATH_PREFIX, else 0 */
	__u16 late;          /* 1: the path was unreadable at sys_enter, so the kill came at sys_exit (open done) */
	__u16 path_len;
	char path[PAL_PATH_MAX];
};

#endif /* PALISADE_H */
