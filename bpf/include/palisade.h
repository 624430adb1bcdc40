/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The ONE header shared by the BPF programs (bpf/progs/) and userspace (native/src/). Fixed-width types only:
 * both sides must agree on every size and offset without depending on the compiler's idea of `long`.
 *
 * The ABI registry below (X-macro tables) is the one source of every id, name, counter and limit; userspace reads
 * it from the addon's abi() export (see native/src/abi.cc), never from a copy. Struct sizes and offsets reach
 * userspace the same way (abi().structs), so the decoder never hard-codes one.
 *
 * Compatibility rules: event kind ids, op ids and stat ids are append-only; never reuse or renumber one. A record's
 * `size` is its total size in bytes, so a reader can skip kinds it does not know.
 */
#ifndef PALISADE_H
#define PALISADE_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/*
 * ---- The ABI registry ------------------------------------------------------------------------------------------
 * Every fact both sides must agree on is one row of one of the X-macro tables below: event kinds, syscall ops,
 * counters (each marked as a loss or not), limits and flag bits. The enums and constants are expanded from them here;
 * the addon exports the same rows once (abi() in native/src/abi.cc), scripts/gen-abi.mjs turns that export into
 * services/common/src/gen/abi.ts, and abi.test.ts compares the proto EventKind, the TracingPolicy and Rego kind
 * names and the generated README tables with it. Ids are append-only: never reuse or renumber one.
 *
 * Adding an event kind: one PAL_EVENT_KINDS row (and its record struct, if it has a new shape), one program file in
 * bpf/progs/, the proto message and RawEvent oneof field named like the row, and the decoder case.
 */

/* X(NAME, id, name, family, doc): PAL_EVENT_<NAME> = id; `name` is the proto RawEvent oneof field, the Rego kind and
 * the TracingPolicy kind; proto EventKind is EVENT_KIND_<NAME>. */
#define PAL_EVENT_KINDS(X)                                                                                    \
	X(PROCESS_EXEC, 1, exec, process, "a program was executed (execve/execveat)")                          \
	X(PROCESS_EXIT, 2, exit, process, "a thread group exited")                                             \
	X(FILE_OPEN, 3, file_open, file, "open/openat/openat2")                                                \
	X(NET_CONNECT, 4, net_connect, network, "connect on an AF_INET/AF_INET6 socket")                        \
	X(PROCESS_KILL, 5, process_kill, enforcement, "the in-kernel filter sent SIGKILL")                     \
	X(PROCESS_FORK, 6, fork, process, "a new thread group (fork/clone without CLONE_THREAD)")              \
	X(FILE_OP, 7, file_op, file, "unlink, rename, chmod, chown, link, symlink and truncate families")                               \
	X(NET_SOCKET, 8, net_socket, network, "accept, bind, listen, UDP send; socket() of raw, packet, netlink and other uncommon sockets") \
	X(DNS_QUERY, 9, dns_query, network, "a UDP datagram to port 53")                                       \
	X(PRIV_SETID, 10, priv_setid, privilege, "setuid/setgid families")                                      \
	X(CAPSET, 11, capset, privilege, "capset")                                                            \
	X(PTRACE, 12, ptrace, privilege, "ptrace")                                                            \
	X(MOUNT, 13, mount, privilege, "mount, umount2; the new mount API's open_tree, move_mount, fsopen")                                                      \
	X(NAMESPACE, 14, namespace, privilege, "unshare, setns")                                               \
	X(MODULE_LOAD, 15, module_load, privilege, "init_module, finit_module")                                 \
	X(BPF_PROG_LOAD, 16, bpf_prog_load, privilege, "bpf(BPF_PROG_LOAD)")                                    \
	X(MEMFD_CREATE, 17, memfd_create, privilege, "memfd_create")                                           \
	X(SIGNAL, 18, signal, privilege, "kill, tkill, tgkill to another process")                              \
	X(USERFAULTFD, 19, userfaultfd, privilege, "userfaultfd: page faults handled in userspace (kernel race exploits)") \
	X(PROCESS_RENAME, 20, process_rename, process, "a task's comm changed: prctl(PR_SET_NAME) or a write to /proc/<pid>/comm") \
	X(FD_DUP, 21, fd_dup, network, "dup/dup2/dup3/fcntl(F_DUPFD) of a socket onto fd 0, 1 or 2 (a socket as stdio)") \
	X(IO_URING, 22, io_uring, privilege, "io_uring_setup: a submission ring, whose opens, connects and reads no syscall hook sees")

/* X(NAME, id, syscall): PAL_OP_<NAME> = id, the `op` of pal_syscall_event / pal_net_socket_event / pal_dns_event. */
#define PAL_OPS(X)                                                                                            \
	X(UNLINK, 1, unlink) X(UNLINKAT, 2, unlinkat) X(RENAME, 3, rename) X(RENAMEAT, 4, renameat)             \
	X(RENAMEAT2, 5, renameat2) X(CHMOD, 6, chmod) X(FCHMODAT, 7, fchmodat) X(CHOWN, 8, chown)                \
	X(FCHOWNAT, 9, fchownat) X(LCHOWN, 10, lchown)                               \
	X(SETUID, 20, setuid) X(SETGID, 21, setgid) X(SETREUID, 22, setreuid) X(SETREGID, 23, setregid)          \
	X(SETRESUID, 24, setresuid) X(SETRESGID, 25, setresgid)                                                 \
	X(CAPSET, 30, capset) X(PTRACE, 31, ptrace) X(MOUNT, 32, mount) X(UMOUNT2, 33, umount2)                   \
	X(UNSHARE, 34, unshare) X(SETNS, 35, setns) X(INIT_MODULE, 36, init_module)                              \
	X(FINIT_MODULE, 37, finit_module) X(BPF, 38, bpf) X(MEMFD_CREATE, 39, memfd_create)                      \
	X(KILL, 40, kill) X(TKILL, 41, tkill) X(TGKILL, 42, tgkill)                                             \
	X(ACCEPT, 50, accept) X(ACCEPT4, 51, accept4) X(BIND, 52, bind) X(LISTEN, 53, listen)                    \
	X(SENDTO, 54, sendto) X(SENDMSG, 55, sendmsg) X(SENDMMSG, 56, sendmmsg) X(WRITE, 57, write)            \
	X(USERFAULTFD, 58, userfaultfd)                                                                        \
	X(PRCTL, 70, prctl) X(TASK_RENAME, 71, comm_write) /* PROCESS_RENAME via: prctl, or a /proc/<pid>/comm write */ \
	X(LINK, 11, link) X(LINKAT, 12, linkat) X(SYMLINK, 13, symlink) X(SYMLINKAT, 14, symlinkat)              \
	X(TRUNCATE, 15, truncate) X(FTRUNCATE, 16, ftruncate) \
	X(SOCKET, 59, socket) X(DUP, 60, dup) X(DUP2, 61, dup2) X(DUP3, 62, dup3) X(FCNTL, 63, fcntl)           \
	X(IO_URING_SETUP, 80, io_uring_setup) X(OPEN_TREE, 81, open_tree) X(MOVE_MOUNT, 82, move_mount)            \
	X(FSOPEN, 83, fsopen)

/* X(NAME, id, loss, doc): the kernel's per-CPU counters (pal_stats), index PAL_STAT_<NAME>; stats() names them in
 * lower case. loss = 1: the counter means an event was dropped (palisade_collector_lost_events_total{reason}). */
#define PAL_STATS(X)                                                                                          \
	X(EVENTS_EMITTED, 0, 0, "records handed to the ring/perf buffer")                                        \
	X(RINGBUF_OUTPUT_FAILED, 1, 1, "ring buffer full: event lost")                                           \
	X(PERFBUF_OUTPUT_FAILED, 2, 1, "perf output failed: event lost")                                         \
	X(SCRATCH_MISSING, 3, 1, "per-CPU scratch lookup failed: event lost")                                    \
	X(READ_KERNEL_FAILED, 4, 0, "a kernel read failed: field left empty")                                     \
	X(READ_USER_FAILED, 5, 0, "a user-memory read failed: field left empty")                                  \
	X(STASH_MISSING, 6, 1, "sys_exit without its sys_enter entry (attached mid-syscall, LRU eviction): event lost") \
	X(STASH_UPDATE_FAILED, 7, 1, "stash insert failed at sys_enter (map full, task storage refused): event lost") \
	X(FILTERED, 8, 0, "dropped on purpose by a Drop selector or the policy's kinds (not a loss)")             \
	X(KILLED, 9, 0, "SIGKILL sent by a Sigkill selector")                                                    \
	X(KILL_FAILED, 10, 0, "bpf_send_signal failed: a Sigkill selector matched but the process was NOT killed") \
	X(RATE_LIMITED, 11, 0, "over a Post selector's rate limit, dropped on purpose (not a loss)")              \
	X(RINGBUF_SHARD_MISSING, 12, 1, "pal_rings had no ring for this CPU's shard: event lost")

/* X(name, loss, doc): counters the addon keeps in userspace, reported by stats() next to the kernel's. */
#define PAL_ADDON_STATS(X)                                                                                    \
	X(perfbuf_lost, 1, "PERF_RECORD_LOST: samples the perf buffer overwrote")                                \
	X(records_malformed, 1, "a record whose header size does not fit what the buffer held: dropped")           \
	X(records_delivered, 0, "records handed to JS")                                                          \
	X(batches_delivered, 0, "Buffers handed to JS")                                                           \
	X(drains_capped, 0, "drains that stopped at maxBatchBytes with more waiting")

/* X(NAME, value, doc): sizes and limits, PAL_<NAME> = value (enum constants, usable as array sizes). */
#define PAL_LIMITS(X)                                                                                         \
	X(COMM_LEN, 16, "bytes of a comm, NUL included (TASK_COMM_LEN)")                                         \
	X(PATH_MAX, 256, "exec filename and open path; longer paths are cut (NUL-terminated)")                    \
	X(CGROUP_NAME_MAX, 128, "leaf cgroup name; cri-containerd-<64 hex>.scope is 84 bytes")                   \
	X(ARGV_MAX_BYTES, 512, "bytes of mm->arg_start..arg_end copied")                                          \
	X(ARGV_MAX_ARGS, 20, "args kept by userspace out of those bytes")                                         \
	X(RESOLVE_DEPTH, 32, "steps of a kernel-resolved path walk (dentry components plus mount crossings)")    \
	X(SYSCALL_ARGS, 8, "u64 args of a pal_syscall_event")                                                     \
	X(STR_SHORT, 64, "bytes of a pal_syscall_event's str2")                                                   \
	X(DNS_MAX, 256, "bytes of a DNS message copied (header + question)")                                      \
	X(FILTER_COMM_ENTRIES, 1024, "exact binary (comm) selectors")                                             \
	X(FILTER_PREFIXES, 16, "path prefix selectors")                                                          \
	X(FILTER_PREFIX_MAX, 64, "bytes of a path prefix, no NUL")                                                \
	X(FILTER_COMM_PREFIXES, 8, "binary-name (comm) prefix selectors")                                         \
	X(FILTER_CGROUP_ENTRIES, 1024, "cgroup selectors (in or not in)")                                         \
	X(FILTER_CGROUP_DEPTH, 16, "cgroup levels looked at: the task's own, then ancestors 0..15")               \
	X(FILTER_PORT_ENTRIES, 1024, "destination port selectors")                                                \
	X(FILTER_RATES, 64, "rate-limited selectors; a rate id is 1..64, 0 = none")                               \
	X(FILTER_RATE_BUCKETS, 16384, "(rate id, tgid) token buckets, LRU")                                       \
	X(FILTER_KINDS, 64, "event kinds a kind mask can name: 1..63")                                           \
	X(FILTER_EXE_ENTRIES, 1024, "exact executable path selectors (TracingPolicy binaries)")                  \
	X(FILTER_EXE_PREFIXES, 8, "executable path prefix selectors (TracingPolicy binaryPrefixes)")             \
	X(EXE_CACHE_ENTRIES, 8192, "thread groups whose executable path and exe verdict are cached (LRU)")   \
	X(ENV_VALUE_MAX, 128, "bytes kept of an exec's LD_PRELOAD/LD_LIBRARY_PATH/LD_AUDIT value, NUL included")   \
	X(ENV_CHUNK, 256, "bytes one environment read copies; a longer string takes more reads")                  \
	X(ENV_SCAN_STEPS, 512, "environment reads per exec (one per string, plus one per further chunk of a long one)") \
	X(ENV_SCAN_BYTES, 32768, "environment bytes scanned per exec; past either bound PAL_ENV_SCAN_INCOMPLETE") \
	X(SOCK_UNIX_PATH, 64, "bytes of an AF_UNIX socket's peer path kept in a pal_sock_info (NUL included)")   \
	X(STDIO_FDS, 3, "fds checked for a socket at exec: 0, 1 and 2 (pal_exec_event.stdio)")

/* X(GROUP, NAME, value): flag bits and small enums, PAL_<GROUP>_<NAME> = value. */
#define PAL_CONSTANTS(X)                                                                                      \
	X(EXEC, ARGS_TRUNCATED, 0x1)                                                                             \
	X(EXEC, FROM_MEMFD, 0x2)      /* bprm->file is a memfd ("memfd:" dentry) or has no link left (nlink 0) */ \
	X(EXEC, CWD_TRUNCATED, 0x4)   /* cwd lost leading components (PAL_RESOLVE_DEPTH or PAL_PATH_MAX) */ \
	X(EXEC, RESOLVED, 0x8)        /* resolved holds bprm->file's path, walked up to the task's root */        \
	X(EXEC, RESOLVED_TRUNCATED, 0x10) /* resolved lost leading components (PAL_RESOLVE_DEPTH or PAL_PATH_MAX) */ \
	X(PATH, RESOLVED, 0x1)        /* file open: path is the returned fd's struct file path (f_path walk) */   \
	X(PATH, TRUNCATED, 0x2)       /* the walk lost leading components: the path starts with "..." (never "/") */  \
	X(PATH, OUTSIDE_ROOT, 0x4)    /* the walk reached a namespace root, not the task's root (another mount ns) */ \
	X(PATH, CWD_JOINED, 0x8)      /* not resolved: a relative path joined with the cwd (or dirfd's path) */   \
	X(SYSCALL, OPENAT, 1) X(SYSCALL, OPENAT2, 2) X(SYSCALL, OPEN, 3) /* enum pal_open_syscall */              \
	X(ACTION, DROP, 0x1)          /* do not emit: counted in PAL_STAT_FILTERED */                              \
	X(ACTION, SIGKILL, 0x2)       /* bpf_send_signal(SIGKILL) at sys_enter of the open */                     \
	X(ACTION, POST, 0x4)          /* emit (the default); with a rate id, at most that rate */                  \
	X(ACTION, LISTED, 0x8)        /* cgroups only: in the "only these cgroups" list */                        \
	X(FILTER, EMIT_KILL_EVENTS, 0x1) /* emit a PAL_EVENT_PROCESS_KILL record per kill */                       \
	X(KILL_REASON, BINARY, 1)         /* pal_filter_comm or pal_filter_comm_prefix matched the comm */                                               \
	X(KILL_REASON, PATH_PREFIX, 2)    /* pal_filter_prefix[rule] matched */                                       \
	X(KILL_REASON, EXE, 3)            /* pal_filter_exe or pal_filter_exe_prefix matched the executable's path */  \
	X(EXE, PATH_KNOWN, 0x1)       /* process_rename: exe holds the renamed task's mm->exe_file path */         \
	X(EXE, PATH_TRUNCATED, 0x2)   /* that path lost leading components (PAL_RESOLVE_DEPTH or PAL_PATH_MAX) */  \
	X(OUTPUT, RINGBUF, 0) X(OUTPUT, PERFBUF, 1) /* PAL_OUTPUT_* */                                           \
	/* exec environment (pal_exec_event.env_flags; include/exec_env.bpf.h): a variable present, its value cut */ \
	X(ENV, LD_PRELOAD, 0x1) X(ENV, LD_LIBRARY_PATH, 0x2) X(ENV, LD_AUDIT, 0x4)                               \
	X(ENV, LD_PRELOAD_CUT, 0x8) X(ENV, LD_LIBRARY_PATH_CUT, 0x10) X(ENV, LD_AUDIT_CUT, 0x20)                  \
	X(ENV, SCAN_INCOMPLETE, 0x40) /* the scan stopped before env_end (PAL_ENV_SCAN_*, or a failed read) */     \
	X(ENV, READ_FAILED, 0x80)     /* a read of the environment failed (the scan stopped there) */             \
	/* executable origin (pal_exec_event.origin_flags): bprm->file's filesystem and inode */                   \
	X(ORIGIN, TMPFS, 0x1)         /* s_magic is TMPFS_MAGIC or RAMFS_MAGIC */                                  \
	X(ORIGIN, OVERLAY, 0x2)       /* s_magic is OVERLAYFS_SUPER_MAGIC */                                       \
	X(ORIGIN, OVERLAY_KNOWN, 0x4) /* overlay: the ovl_inode was readable (CO-RE: the overlay BTF was there) */  \
	X(ORIGIN, OVERLAY_UPPER, 0x8) /* overlay: the inode has an upper dentry (written or copied up) */          \
	X(ORIGIN, TIMES, 0x10)        /* exe_ctime_ns/exe_mtime_ns were read */ \
	/* pal_file_open_event.write_flags: write intent and truncation, taken at sys_exit (file signals, issue 8) */ \
	X(FILE, WRITE, 0x1)           /* opened for writing: f_mode & FMODE_WRITE (failed open: O_WRONLY/O_RDWR) */ \
	X(FILE, TRUNC, 0x2)           /* O_TRUNC was passed */                                                     \
	X(FILE, APPEND, 0x4)          /* O_APPEND was passed */                                                    \
	X(FILE, CREAT, 0x8)           /* O_CREAT was passed */                                                     \
	X(FILE, CREATED, 0x10)        /* the open created the file (f_mode & FMODE_CREATED) */                     \
	X(FILE, TRUNCATED_EXISTING, 0x20) /* O_TRUNC on a regular file the open did not create: its data is gone */ \
	X(SOCK, TYPE_MASK, 0xf)       /* socket(2) type: the low bits are SOCK_*, the rest flags (SOCK_NONBLOCK, SOCK_CLOEXEC) */ \
	X(SOCK, PEER, 0x1)            /* pal_sock_info: addr/port (or unix_path) name the peer (a connected socket) */ \
	X(SOCK, LOCAL, 0x2)           /* pal_sock_info: not connected: addr/port (or unix_path) are the local end */

#define PAL_X_KIND(NAME, id, name, family, doc) PAL_EVENT_##NAME = id,
enum pal_event_kind { PAL_EVENT_KINDS(PAL_X_KIND) };
#undef PAL_X_KIND

#define PAL_X_OP(NAME, id, syscall) PAL_OP_##NAME = id,
enum pal_op { PAL_OPS(PAL_X_OP) };
#undef PAL_X_OP

#define PAL_X_STAT(NAME, id, loss, doc) PAL_STAT_##NAME = id,
enum pal_stat { PAL_STATS(PAL_X_STAT) PAL_STAT__COUNT };
#undef PAL_X_STAT

#define PAL_X_LIMIT(NAME, value, doc) PAL_##NAME = value,
enum pal_limit { PAL_LIMITS(PAL_X_LIMIT) };
#undef PAL_X_LIMIT

#define PAL_X_CONST(GROUP, NAME, value) PAL_##GROUP##_##NAME = value,
enum pal_constant { PAL_CONSTANTS(PAL_X_CONST) };
#undef PAL_X_CONST

/*
 * What a program says about itself, as BTF decl tags on its function (read by the addon from the object's BTF):
 *   PAL_REQUIRED: the collector refuses to start when it cannot attach (the core: exec, exit, fork, openat, connect).
 *   anything else is optional: attached when the running kernel has its hook, else reported
 *   (palisade_collector_program_attached{program} = 0, /readyz detail, `palisade probe`).
 *   PAL_KIND(NAME): the event kind the program produces (PAL_EVENT_<NAME>), so a probe can say which kinds are seen.
 *   PAL_UNLESS(TRACEPOINT): a fallback, left out (reported as not needed) when the kernel has TRACEPOINT
 *   ("syscalls/sys_enter_finit_module"), whose own programs then produce the events.
 */
#define PAL_REQUIRED __attribute__((btf_decl_tag("palisade:required")))
#define PAL_KIND(NAME) __attribute__((btf_decl_tag("palisade:kind=" #NAME)))
#define PAL_UNLESS(TRACEPOINT) __attribute__((btf_decl_tag("palisade:unless=" TRACEPOINT)))

/* Read-only config (.rodata), set by userspace between open and load. */
struct pal_config {
	__u32 output_mode;   /* PAL_OUTPUT_* */
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

/*
 * What a socket is, read from a struct file (bpf/include/sock.bpf.h): struct socket's type, the sock's family and
 * protocol, and the far end (inet/inet6: address and port; AF_UNIX: the peer's bound path). family 0 = not a socket.
 */
struct pal_sock_info {
	__u16 family;        /* AF_* (sk->__sk_common.skc_family); 0 = the fd is not a socket (or unreadable) */
	__u16 type;          /* SOCK_STREAM, SOCK_DGRAM, SOCK_RAW, ... (struct socket's type) */
	__u16 protocol;      /* sk->sk_protocol: IPPROTO_*, NETLINK_*, or AF_PACKET's ethertype (network order) */
	__u16 port;          /* inet/inet6: the peer's port (PAL_SOCK_PEER) or the local one (PAL_SOCK_LOCAL), host order */
	__u8 flags;          /* PAL_SOCK_* */
	__u8 _pad0[3];
	__u8 addr[16];       /* inet/inet6: the peer's (or local) address, network order; AF_INET uses the first 4 bytes */
	char unix_path[PAL_SOCK_UNIX_PATH];  /* AF_UNIX: the peer's bound path ("\0name" = abstract); "" if unnamed */
};

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
	char resolved[PAL_PATH_MAX];  /* bprm->file's path up to the task's root (PAL_EXEC_RESOLVED); "" if unreadable */
	/* exec environment and executable origin (issue 8, execenv: include/exec_env.bpf.h) */
	__u16 env_flags;     /* PAL_ENV_* */
	__u16 origin_flags;  /* PAL_ORIGIN_* */
	__u32 env_count;     /* environment strings looked at */
	__u32 env_bytes;     /* mm->env_end - env_start: the whole environment's size */
	__u32 exe_fs_magic;  /* bprm->file's superblock s_magic (low 32 bits) */
	__u64 exe_ctime_ns;  /* bprm->file's inode ctime, ns since the epoch (PAL_ORIGIN_TIMES) */
	__u64 exe_mtime_ns;  /* its mtime (settable by the owner: ctime is the one to trust) */
	char env_ld_preload[PAL_ENV_VALUE_MAX];       /* values, "" unless the PAL_ENV_<NAME> bit is set */
	char env_ld_library_path[PAL_ENV_VALUE_MAX];
	char env_ld_audit[PAL_ENV_VALUE_MAX];
	/* stdio sockets (sock.bpf.h): fds 0, 1, 2 of the new image; family 0 = that fd is not a socket */
	struct pal_sock_info stdio[PAL_STDIO_FDS];
	__u32 _pad_stdio;    /* 3 x 92 bytes: pads the fixed part to whole words (process_exec.bpf.c zeroes it by words) */
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

/*
 * Variable size: the record ends after path_len + arg_len bytes of path. path[0, path_len) (NUL included) is the
 * path the filter and the rules match: with PAL_PATH_RESOLVED the returned fd's f_path walked up to the task's root,
 * else (failed open, no file) the string as passed, joined with the cwd when relative (PAL_PATH_CWD_JOINED).
 * path[path_len, path_len + arg_len) is the string as passed (NUL included), read from user memory.
 */
struct pal_file_open_event {
	struct pal_event_header hdr;
	__s64 result;        /* fd, or -errno */
	__u64 flags;         /* O_* (u64 because openat2's open_how.flags is) */
	__u32 mode;
	__u16 syscall;       /* PAL_SYSCALL_OPEN* */
	__u16 path_len;
	__u16 arg_len;
	__u8 path_flags;     /* PAL_PATH_* */
	__u8 write_flags;    /* PAL_FILE_*: write intent and truncation (file signals) */
	__u32 _pad1;
	char path[2 * PAL_PATH_MAX];
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
 *   (FILE_OP: base0/base1 = the directory a relative str0/str1 is relative to: the cwd for AT_FDCWD, else the
 *   dirfd's path, both walked up to the task's root; "" for an absolute path or when unreadable. path_flags0/1 =
 *   PAL_PATH_TRUNCATED / PAL_PATH_OUTSIDE_ROOT of that walk.)
 *   FILE_OP      unlink/unlinkat             dfd          flags                                     path
 *                rename/renameat/renameat2   olddfd       newdfd      flags                         old path  new path
 *                chmod/fchmodat              dfd          mode        flags                         path
 *                chown/fchownat/lchown       dfd          uid         gid        flags              path
 *                link/linkat                 olddfd       newdfd      flags                         target    new path
 *                symlink/symlinkat           -            newdfd                                    text      link path
 *                (the symlink's text is not resolved: no base0; userspace reads it relative to the link's directory)
 *                truncate                    dfd          length                                    path
 *                ftruncate                   fd           length                                    fd's path
 *                (ftruncate: str0 is the fd's f_path resolved in the kernel, path_flags0 = PAL_PATH_RESOLVED | ...)
 *   PRIV_SETID   setuid..setresgid           new r        new e       new s      old r, e, s        -
 *                (ids as requested; (u32)-1 = unchanged; old = cred at sys_enter; arg6..7 = r/e after)
 *   CAPSET       capset                      target pid   effective   permitted  inheritable, old effective
 *   PTRACE       ptrace                      request      target pid  addr       data                         target comm
 *   MOUNT        mount                       flags                                                  source    target    fstype
 *                open_tree (new mount API)   flags                                                  path
 *                move_mount                  flags                                                  from path to path
 *                fsopen                      flags                                                  -         -         fs name
 *                umount2                     flags                                                  -         target
 *   NAMESPACE    unshare                     flags
 *                setns                       fd           nstype
 *   MODULE_LOAD  init_module                 len                                                    params
 *                finit_module                fd           flags                                     params    file name
 *   BPF_PROG_LOAD bpf(BPF_PROG_LOAD)         prog type    insn count  cmd                                               prog name
 *   MEMFD_CREATE memfd_create                flags                                                  name
 *   SIGNAL       kill/tkill/tgkill           target pid   signal      target tgid (tgkill)                                target comm
 *   USERFAULTFD  userfaultfd                 flags
 *   IO_URING     io_uring_setup              entries      flags (params->flags, read at sys_enter)
 *
 * Emitted at sys_exit with `result`; arguments were stashed at sys_enter (pal_stash_args).
 */

struct pal_syscall_event {
	struct pal_event_header hdr;
	__s64 result;        /* syscall return: >= 0 success, -errno */
	__u64 args[PAL_SYSCALL_ARGS];
	__u16 op;            /* enum pal_op */
	__u8 path_flags0;    /* FILE_OP: PAL_PATH_* of base0 */
	__u8 path_flags1;    /* FILE_OP: PAL_PATH_* of base1 */
	__u16 _pad0[2];
	char str0[PAL_PATH_MAX];
	char str1[PAL_PATH_MAX];
	char str2[PAL_STR_SHORT];
	/* FILE_OP only (see the table above), and only when one of them is set: otherwise the record ends here
	 * (hdr.size = offsetof(base0)). */
	char base0[PAL_PATH_MAX];
	char base1[PAL_PATH_MAX];
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
	/* socket(2) (op SOCKET, emitted for the uncommon sockets only: bpf/README.md) and the socket's type for the rest */
	__u32 sock_type;     /* the type argument as passed (SOCK_* | SOCK_NONBLOCK | SOCK_CLOEXEC); else socket->type */
	__s32 sock_protocol; /* the protocol argument as passed (AF_PACKET: ethertype, network order); else sk_protocol */
};

/* A socket dup'ed onto fd 0, 1 or 2 (dup, dup2, dup3, fcntl F_DUPFD/F_DUPFD_CLOEXEC), emitted at sys_exit: only
 * when the source fd is a socket and the new fd is 0..2 (or, for a failed dup2/dup3, was asked to be). */
struct pal_fd_dup_event {
	struct pal_event_header hdr;
	__s64 result;        /* the new fd, or -errno */
	__u16 op;            /* enum pal_op: DUP, DUP2, DUP3, FCNTL */
	__u16 _pad0;
	__s32 old_fd;
	__s32 new_fd;        /* dup2/dup3: the fd asked for; fcntl: the lowest fd allowed (arg); dup: -1 */
	__u32 flags;         /* dup3: O_CLOEXEC; fcntl: the cmd (F_DUPFD = 0, F_DUPFD_CLOEXEC = 1030) */
	struct pal_sock_info sock;  /* the socket (read from the new fd on success, the old one on failure) */
};

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

/*
 * The value of every keyed selector map (pal_filter_comm, pal_filter_cgroup, pal_filter_port). `kinds` narrows
 * DROP and POST to events of those kinds (bit k = kind k; 0 = every kind); SIGKILL acts at opens whatever it says.
 */
struct pal_filter_value {
	__u32 actions;       /* PAL_ACTION_* bits */
	__u32 rate;          /* pal_filter_rate slot (1..PAL_FILTER_RATES) for a rate-limited POST; 0 = none */
	__u64 kinds;
};

/* pal_filter_comm key: the task's comm exactly as the kernel keeps it (15 bytes max), NUL-padded to 16. */
struct pal_filter_comm_key {
	char comm[PAL_COMM_LEN];
};

/* Same layout as struct pal_filter_value (maps.bpf.h declares pal_filter_comm with this name). */
struct pal_filter_comm_value {
	__u32 actions;       /* PAL_ACTION_* bits */
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
	__u32 actions;       /* PAL_ACTION_* bits */
	char prefix[PAL_FILTER_PREFIX_MAX];
};

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
	/* Executable selectors (bpf/include/exe.bpf.h): */
	__u32 exe_count;     /* entries in pal_filter_exe; exe_count + exe_prefix_count == 0: no exe lookup at all */
	__u32 exe_prefix_count;  /* slots of pal_filter_exe_prefix in use, packed from 0 */
	__u32 exe_gen;       /* changes with every setFilter(): a cached exe verdict of another generation is redone */
	__u32 _pad0;
};

/* pal_filter_exe key: an executable's path as the kernel resolved it (to the task's root), NUL-padded. */
struct pal_filter_exe_key {
	char path[PAL_PATH_MAX];
};

/* pal_filter_exe_prefix[i]; len == 0 is an empty slot. Matches when the executable's path starts with prefix. */
struct pal_filter_exe_prefix {
	__u32 len;
	__u32 actions;
	__u32 rate;
	__u32 _pad0;
	__u64 kinds;
	char prefix[PAL_FILTER_PREFIX_MAX];
};

/* Variable size: the record ends after path_len bytes of path (NUL included). */
struct pal_process_kill_event {
	struct pal_event_header hdr;
	__u32 signal;        /* 9 */
	__u16 reason;        /* PAL_KILL_REASON_* */
	__u16 syscall;       /* PAL_SYSCALL_* of the syscall the process was killed in */
	__u32 rule;          /* pal_filter_prefix slot for PAL_KILL_REASON_PATH_PREFIX, else 0 */
	__u16 late;          /* 1: the path was unreadable at sys_enter, so the kill came at sys_exit (open done) */
	__u16 path_len;
	char path[PAL_PATH_MAX];
};

/*
 * task:task_rename, except the rename exec itself does. Variable size: the record ends after exe_len bytes of exe.
 * The header is the task that did it; target_* the task renamed (another one only for a /proc/<pid>/comm write).
 */
struct pal_process_rename_event {
	struct pal_event_header hdr;
	__u32 target_pid;    /* tgid of the renamed task */
	__u32 target_tid;
	__u16 op;            /* PAL_OP_PRCTL or PAL_OP_TASK_RENAME (a write to /proc/<pid>/comm, or any other path) */
	__u16 exe_len;       /* bytes of exe, NUL included (1 = unknown) */
	__u8 exe_flags;      /* PAL_EXE_* */
	__u8 _pad0[3];
	char old_comm[PAL_COMM_LEN];
	char new_comm[PAL_COMM_LEN];
	char exe[PAL_PATH_MAX];  /* the renamed task's mm->exe_file, resolved to the renaming task's root */
};

#endif /* PALISADE_H */
