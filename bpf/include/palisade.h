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
	PAL_EVENT_PROCESS_FORK = 6,   /* struct pal_fork_event */
	PAL_EVENT_FILE_OP = 7,        /* struct pal_syscall_event, op = PAL_OP_UNLINK..PAL_OP_LCHOWN */
	PAL_EVENT_NET_SOCKET = 8,     /* struct pal_net_socket_event: accept/accept4/bind/listen/udp sendto */
	PAL_EVENT_DNS_QUERY = 9,      /* struct pal_dns_event */
	PAL_EVENT_PRIV_SETID = 10,    /* struct pal_syscall_event, op = PAL_OP_SETUID..PAL_OP_SETRESGID */
	PAL_EVENT_CAPSET = 11,        /* struct pal_syscall_event, op = PAL_OP_CAPSET */
	PAL_EVENT_PTRACE = 12,        /* struct pal_syscall_event, op = PAL_OP_PTRACE */
	PAL_EVENT_MOUNT = 13,         /* struct pal_syscall_event, op = PAL_OP_MOUNT | PAL_OP_UMOUNT2 */
	PAL_EVENT_NAMESPACE = 14,     /* struct pal_syscall_event, op = PAL_OP_UNSHARE | PAL_OP_SETNS */
	PAL_EVENT_MODULE_LOAD = 15,   /* struct pal_syscall_event, op = PAL_OP_INIT_MODULE | PAL_OP_FINIT_MODULE */
	PAL_EVENT_BPF_PROG_LOAD = 16, /* struct pal_syscall_event, op = PAL_OP_BPF */
	PAL_EVENT_MEMFD_CREATE = 17,  /* struct pal_syscall_event, op = PAL_OP_MEMFD_CREATE */
	PAL_EVENT_SIGNAL = 18,        /* struct pal_syscall_event, op = PAL_OP_KILL | PAL_OP_TKILL | PAL_OP_TGKILL */
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
	PAL_STAT_RATE_LIMITED,            /* event over a Post selector's rate limit, dropped on purpose (not a loss) */
	PAL_STAT_RINGBUF_SHARD_MISSING,   /* pal_rings had no ring for this CPU's shard: event lost */
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
	__u64 wakeup_bytes;  /* ringbuf: wake userspace only once this much data is waiting (per shard) */
	__u32 ring_shards;   /* ringbuf: slots of pal_rings in use; a CPU writes to shard cpu % ring_shards */
	__u32 _pad0;
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
#define PAL_EXEC_FROM_MEMFD 0x2      /* bprm->file is a memfd ("memfd:" dentry) or has no link left (nlink == 0) */
#define PAL_EXEC_CWD_TRUNCATED 0x4   /* cwd deeper than PAL_PATH_DEPTH components or longer than PAL_PATH_MAX */
#define PAL_PATH_DEPTH 24            /* dentry components walked for a cwd */

/* Variable size: the record ends after args_len bytes of args. */
struct pal_exec_event {
	struct pal_event_header hdr;
	__u32 argc;          /* bprm->argc: how many args there were, kept or not */
	__u16 args_len;      /* valid bytes in args: NUL-separated, the last one possibly cut */
	__u8 flags;          /* PAL_EXEC_* */
	__u8 _pad0;
	char filename[PAL_PATH_MAX];
	char cgroup_name[PAL_CGROUP_NAME_MAX];
	__u64 cap_effective; /* cred->cap_effective after exec (CAP_* bit mask) */
	__u64 cap_permitted;
	__u32 pid_ns;        /* inode numbers of the task's pid, mnt and net namespaces (as in /proc/<pid>/ns/{pid,mnt,net}) */
	__u32 mnt_ns;
	__u32 net_ns;
	__u32 loginuid;      /* audit login uid; 0xffffffff = unset (or no CONFIG_AUDIT) */
	char cwd[PAL_PATH_MAX];  /* absolute, through mount points; "" if unreadable */
	char args[PAL_ARGV_MAX_BYTES];
};

/* sched_process_fork, new thread groups only (a CLONE_THREAD child is a thread, not a process). */
struct pal_fork_event {
	struct pal_event_header hdr;  /* the parent (the task calling fork/clone) */
	__u32 child_pid;
	__u32 child_tid;
	__u32 clone_flags;   /* the exit signal part of clone flags (child->exit_signal); other flags are not reachable */
	__u32 _pad0;
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
 * One fixed-size shape for the syscall families that carry a few numbers and up to three strings: file operations,
 * setid, capset, ptrace, mount, namespaces, modules, bpf, memfd, signals. The kind says which family, `op` which
 * syscall, and the table below what each arg and string holds (userspace turns it into the kind's typed message).
 *
 *   kind         op                          arg0         arg1        arg2       arg3..5            str0      str1      str2
 *   FILE_OP      unlink/unlinkat             dfd          flags                                     path
 *                rename/renameat/renameat2   olddfd       newdfd      flags                         old path  new path
 *                chmod/fchmodat              dfd          mode        flags                         path
 *                chown/fchownat/lchown       dfd          uid         gid        flags              path
 *   PRIV_SETID   setuid..setresgid           new r        new e       new s      old r, e, s        -
 *                (ids as requested; (u32)-1 = unchanged; old = cred at sys_enter; arg6..7 = r/e after)
 *   CAPSET       capset                      target pid   effective   permitted  inheritable, old effective
 *   PTRACE       ptrace                      request      target pid  addr       data                         target comm
 *   MOUNT        mount                       flags                                                  source    target    fstype
 *                umount2                     flags                                                  -         target
 *   NAMESPACE    unshare                     flags
 *                setns                       fd           nstype
 *   MODULE_LOAD  init_module                 len                                                    params
 *                finit_module                fd           flags                                     params    file name
 *   BPF_PROG_LOAD bpf(BPF_PROG_LOAD)         prog type    insn count  cmd                                               prog name
 *   MEMFD_CREATE memfd_create                flags                                                  name
 *   SIGNAL       kill/tkill/tgkill           target pid   signal      target tgid (tgkill)                                target comm
 *
 * Emitted at sys_exit with `result`; arguments were stashed at sys_enter (pal_stash_args).
 */
enum pal_op {
	PAL_OP_UNLINK = 1,
	PAL_OP_UNLINKAT = 2,
	PAL_OP_RENAME = 3,
	PAL_OP_RENAMEAT = 4,
	PAL_OP_RENAMEAT2 = 5,
	PAL_OP_CHMOD = 6,
	PAL_OP_FCHMODAT = 7,
	PAL_OP_CHOWN = 8,
	PAL_OP_FCHOWNAT = 9,
	PAL_OP_LCHOWN = 10,
	PAL_OP_SETUID = 20,
	PAL_OP_SETGID = 21,
	PAL_OP_SETREUID = 22,
	PAL_OP_SETREGID = 23,
	PAL_OP_SETRESUID = 24,
	PAL_OP_SETRESGID = 25,
	PAL_OP_CAPSET = 30,
	PAL_OP_PTRACE = 31,
	PAL_OP_MOUNT = 32,
	PAL_OP_UMOUNT2 = 33,
	PAL_OP_UNSHARE = 34,
	PAL_OP_SETNS = 35,
	PAL_OP_INIT_MODULE = 36,
	PAL_OP_FINIT_MODULE = 37,
	PAL_OP_BPF = 38,
	PAL_OP_MEMFD_CREATE = 39,
	PAL_OP_KILL = 40,
	PAL_OP_TKILL = 41,
	PAL_OP_TGKILL = 42,
	PAL_OP_ACCEPT = 50,     /* pal_net_socket_event ops */
	PAL_OP_ACCEPT4 = 51,
	PAL_OP_BIND = 52,
	PAL_OP_LISTEN = 53,
	PAL_OP_SENDTO = 54,
	PAL_OP_SENDMSG = 55,
	PAL_OP_SENDMMSG = 56,
	PAL_OP_WRITE = 57,
};

#define PAL_SYSCALL_ARGS 8
#define PAL_STR_SHORT 64

struct pal_syscall_event {
	struct pal_event_header hdr;
	__s64 result;        /* syscall return: >= 0 success, -errno */
	__u64 args[PAL_SYSCALL_ARGS];
	__u16 op;            /* enum pal_op */
	__u16 _pad0[3];
	char str0[PAL_PATH_MAX];
	char str1[PAL_PATH_MAX];
	char str2[PAL_STR_SHORT];
};

/* accept/accept4 (the peer, read from the new socket), bind (the local address asked for), listen (the bound local
 * port, backlog), UDP sendto/sendmsg with a destination (not DNS: see pal_dns_event). */
struct pal_net_socket_event {
	struct pal_event_header hdr;
	__s64 result;
	__u16 op;            /* enum pal_op */
	__u16 family;        /* AF_INET or AF_INET6 */
	__u16 port;          /* host byte order: accept = peer port, bind/listen = local port, sendto = destination */
	__u8 protocol;       /* IPPROTO_* from sk->sk_protocol */
	__u8 _pad0;
	__u32 backlog;       /* listen only */
	__u32 _pad1;
	__u8 addr[16];       /* network byte order; AF_INET uses the first 4 bytes */
};

#define PAL_DNS_MAX 256  /* bytes of the DNS message copied (header + question; names are at most 255 bytes) */

/* A UDP datagram to port 53 (sendto/sendmsg/sendmmsg/write), emitted at sys_enter. The DNS message is copied raw
 * and parsed in userspace (event-decoder.ts): the name's label loop is cheaper and safer there than in the
 * verifier, and nothing in the kernel needs the name yet. */
struct pal_dns_event {
	struct pal_event_header hdr;
	__u16 op;            /* enum pal_op: SENDTO, SENDMSG, SENDMMSG, WRITE */
	__u16 family;
	__u16 dport;
	__u16 len;           /* bytes valid in msg */
	__u8 daddr[16];
	__u8 msg[PAL_DNS_MAX];
};

/*
 * In-kernel filter (maps pal_filter_*; the ones beyond comm/prefix/state are declared in bpf/include/filter.bpf.h),
 * written by the addon's setFilter() while the programs stay attached. Actions are bit flags.
 */
#define PAL_FILTER_COMM_ENTRIES 1024
#define PAL_FILTER_PREFIXES 16
#define PAL_FILTER_PREFIX_MAX 64  /* bytes of a path prefix, no NUL */
#define PAL_FILTER_COMM_PREFIXES 8        /* binary-name (comm) prefixes */
#define PAL_FILTER_CGROUP_ENTRIES 1024
#define PAL_FILTER_CGROUP_DEPTH 16        /* cgroup levels looked at: the task's own, then ancestors 0..15 */
#define PAL_FILTER_PORT_ENTRIES 1024
#define PAL_FILTER_RATES 64               /* rate-limited selectors; a rate id is 1..64, 0 = none */
#define PAL_FILTER_RATE_BUCKETS 16384     /* (rate id, tgid) token buckets, LRU */
#define PAL_FILTER_KINDS 64               /* event kinds a kind mask can name: 1..63 */

enum pal_filter_action {
	PAL_ACTION_DROP = 0x1,     /* do not emit: counted in PAL_STAT_FILTERED */
	PAL_ACTION_SIGKILL = 0x2,  /* bpf_send_signal(SIGKILL) at sys_enter of the open */
	PAL_ACTION_POST = 0x4,     /* emit (the default); with a rate id, at most that rate (PAL_STAT_RATE_LIMITED) */
	PAL_ACTION_LISTED = 0x8,   /* cgroups only: in the "only these cgroups" list (pal_filter_state.cgroup_only) */
};

/*
 * The value of every keyed selector map (pal_filter_comm, pal_filter_cgroup, pal_filter_port). `kinds` narrows
 * DROP and POST to events of those kinds (bit k = kind k; 0 = every kind); SIGKILL acts at opens whatever it says.
 */
struct pal_filter_value {
	__u32 actions;       /* enum pal_filter_action bits */
	__u32 rate;          /* pal_filter_rate slot (1..PAL_FILTER_RATES) for a rate-limited POST; 0 = none */
	__u64 kinds;
};

/* pal_filter_comm key: the task's comm exactly as the kernel keeps it (15 bytes max), NUL-padded to 16. */
struct pal_filter_comm_key {
	char comm[PAL_COMM_LEN];
};

/* Same layout as struct pal_filter_value (maps.bpf.h declares pal_filter_comm with this name). */
struct pal_filter_comm_value {
	__u32 actions;       /* enum pal_filter_action bits */
	__u32 rate;
	__u64 kinds;
};

/* pal_filter_comm_prefix[i]; len == 0 is an empty slot. Matches when the comm starts with prefix[0..len). */
struct pal_filter_comm_prefix {
	__u32 len;
	__u32 actions;
	__u32 rate;
	__u32 _pad0;
	__u64 kinds;
	char prefix[PAL_COMM_LEN];
};

/* pal_filter_rate[id]: a token bucket's shape. Each event costs cost_ns of credit; credit refills at one ns per ns
 * and is capped at burst_ns (= events allowed back to back x cost_ns). */
struct pal_filter_rate {
	__u64 cost_ns;       /* 0: slot unused, no limit */
	__u64 burst_ns;
};

struct pal_filter_bucket_key {
	__u32 rate;          /* rate id */
	__u32 tgid;
};

struct pal_filter_bucket {
	__u64 credit_ns;
	__u64 last_ns;       /* bpf_ktime_get_ns() of the last refill */
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
	__u64 kinds_dropped; /* bit k: every event of kind k is dropped (the policy's kinds do not select it) */
	__u32 comm_prefix_count;  /* slots of pal_filter_comm_prefix in use, packed from 0 */
	__u32 cgroup_count;  /* entries in pal_filter_cgroup; 0 = skip the cgroup walk */
	__u32 cgroup_only;   /* 1: drop events of tasks whose cgroup (or an ancestor) is not PAL_ACTION_LISTED */
	__u32 port_count;    /* entries in pal_filter_port */
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
