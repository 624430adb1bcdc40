/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Every map and every piece of load-time config used by the programs, in one place.
 *
 * Each bpf/progs/<hook>.bpf.c is compiled on its own and includes this header, so the definitions are __weak:
 * the BPF static linker (bpftool gen object) merges identical weak definitions into one map, which gives every
 * program the same ring buffer, stats and stash. A definition that differs between two objects fails the link,
 * which is what we want.
 *
 *   map              type                    key -> value                   why
 *   pal_rings        ARRAY_OF_MAPS           shard -> RINGBUF               default output, one ring per CPU (or per
 *                                                                           group of CPUs: shard = cpu % ring_shards);
 *                                                                           slot count and ring size set by userspace,
 *                                                                           which creates the rings before load
 *   pal_perf_events  PERF_EVENT_ARRAY        cpu -> perf fd                 output when pal_cfg.output_mode == PERFBUF
 *   pal_scratch      PERCPU_ARRAY[1]         0 -> union pal_scratch         events exceed the 512-byte BPF stack
 *   pal_stash        LRU_HASH                tid -> struct pal_stash        syscall args from sys_enter to sys_exit;
 *                                                                           LRU so an entry whose sys_exit never
 *                                                                           came cannot leak a slot forever
 *   pal_open_stash   TASK_STORAGE            task -> struct pal_open_stash  open/openat/openat2 args (or the filter's
 *                                                                           verdict) from sys_enter to sys_exit: one
 *                                                                           pointer walk per lookup, no hash, no lock,
 *                                                                           no delete; freed with the task
 *   pal_stats        PERCPU_ARRAY            enum pal_stat -> u64           failure/drop counters, summed by userspace
 *   pal_stash_args   LRU_HASH                tid -> struct pal_stash_args   args of the pal_syscall_event families and
 *                                                                           net_socket ops, sys_enter -> sys_exit
 *   pal_path_buf     PERCPU_ARRAY[1]         0 -> struct pal_path_buf       a cwd is built here backwards, one dentry
 *                                                                           at a time (task__cwd)
 *   pal_filter_comm  HASH                    pal_filter_comm_key ->         per-binary (comm) actions; written by
 *                                            pal_filter_comm_value          userspace at runtime (setFilter)
 *   pal_filter_prefix ARRAY[16]              slot -> pal_filter_prefix      open path prefixes + actions (setFilter)
 *   pal_filter_state ARRAY[1]                0 -> pal_filter_state          counts that let an empty filter cost
 *                                                                           one array lookup per event
 */
#ifndef PALISADE_MAPS_BPF_H
#define PALISADE_MAPS_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "palisade.h"

#define PAL_STASH_ENTRIES 16384  /* threads in a syscall at the same time; beyond that, counted drops */

/* Set by userspace between open and load (the addon finds it through the .rodata BTF). */
const volatile struct pal_config pal_cfg __weak = {
	.output_mode = PAL_OUTPUT_RINGBUF,
	.ignore_tgid = 0,
	.wakeup_bytes = 256 * 1024,
	.ring_shards = 1,
};

union pal_scratch {
	struct pal_event_header hdr;
	struct pal_exec_event exec;
	struct pal_exit_event exit;
	struct pal_file_open_event file_open;
	struct pal_net_connect_event net_connect;
	struct pal_process_kill_event kill;
	struct pal_fork_event fork;
	struct pal_syscall_event sys;
	struct pal_net_socket_event net_socket;
	struct pal_dns_event dns;
	struct pal_process_rename_event rename;
	struct pal_fd_dup_event fd_dup;
};

enum pal_stash_kind {
	PAL_STASH_OPEN = 1,
	PAL_STASH_CONNECT = 2,
};

/* Kernel-only: what sys_enter saw, for sys_exit. User pointers are kept, not the strings: at sys_exit the kernel
 * has already faulted the pages in, so reading there does not fail the way it can at sys_enter. */
struct pal_stash {
	__u16 kind;        /* enum pal_stash_kind */
	__u16 syscall;     /* enum pal_open_syscall */
	__u32 mode;
	__u64 flags;
	__u64 uptr;        /* filename or sockaddr */
	__u32 addrlen;
	__u8 protocol;
	__u8 killed;       /* a SIGKILL filter already fired at sys_enter: sys_exit reports nothing more */
	__u8 at_cwd;       /* open: a relative path resolves against the cwd (dfd == AT_FDCWD, or open(2)) */
	__u8 _pad0;
};

/* Kernel-only: sys_enter args of a pal_syscall_event / pal_net_socket_event, for its sys_exit. Strings are kept as
 * user pointers and read at sys_exit (pages faulted in by then), like pal_stash. */
struct pal_stash_args {
	__u16 kind;        /* enum pal_event_kind */
	__u16 op;          /* enum pal_op */
	__u32 _pad0;
	__u64 args[PAL_SYSCALL_ARGS];
	__u64 uptr[3];     /* user strings for str0..str2; 0 = none */
};

#define PAL_PATH_BUF 1024  /* twice the walked region (512), so masked offset + masked length stay inside */

struct pal_path_buf {
	char buf[PAL_PATH_BUF];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, PAL_STASH_ENTRIES);
	__type(key, __u32);
	__type(value, struct pal_stash_args);
} pal_stash_args SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pal_path_buf);
} pal_path_buf SEC(".maps") __weak;

/*
 * One ring per shard so that producers on different CPUs do not serialize on one ring's spinlock (every
 * bpf_ringbuf_output takes it). The inner definition is only the template the verifier checks lookups against: the
 * addon creates the real rings (its size, one per slot) and fills every slot between load and attach, so no
 * program ever runs against an empty slot; a NULL lookup is still counted (PAL_STAT_RINGBUF_SHARD_MISSING).
 */
struct pal_ring_shard {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct pal_ring_shard);
} pal_rings SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} pal_perf_events SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, union pal_scratch);
} pal_scratch SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, PAL_STASH_ENTRIES);
	__type(key, __u32);
	__type(value, struct pal_stash);
} pal_stash SEC(".maps") __weak;

/* What an open's sys_enter left for its sys_exit (pal_open_stash). Kernel-only. */
enum pal_open_state {
	PAL_OPEN_NONE = 0,     /* no open in flight (consumed, or sys_enter ran before the programs were attached) */
	PAL_OPEN_LIVE = 1,     /* emit at sys_exit */
	PAL_OPEN_DROPPED = 2,  /* a binary/cgroup/kind selector dropped it at sys_enter (counted there) */
	PAL_OPEN_KILLED = 3,   /* killed at sys_enter (counted and reported there) */
};

struct pal_open_stash {
	__u8 state;        /* enum pal_open_state */
	__u8 at_cwd;       /* open(2) or openat(AT_FDCWD): a relative path is joined with the cwd */
	__u16 syscall;     /* enum pal_open_syscall */
	__u32 mode;
	__u64 flags;
	__u64 uptr;        /* the filename, read at sys_exit */
};

/*
 * Task storage rather than a tid-keyed hash: the open path is the hottest the collector hooks, and an LRU hash
 * costs a hashed lookup plus a locked update at sys_enter and a locked delete at sys_exit. The entry is created on
 * a thread's first open and reused (state reset to NONE) until the thread exits.
 */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct pal_open_stash);
} pal_open_stash SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PAL_STAT__COUNT);
	__type(key, __u32);
	__type(value, __u64);
} pal_stats SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PAL_FILTER_COMM_ENTRIES);
	__type(key, struct pal_filter_comm_key);
	__type(value, struct pal_filter_comm_value);
} pal_filter_comm SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PAL_FILTER_PREFIXES);
	__type(key, __u32);
	__type(value, struct pal_filter_prefix);
} pal_filter_prefix SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pal_filter_state);
} pal_filter_state SEC(".maps") __weak;

#endif /* PALISADE_MAPS_BPF_H */
