#include "layout.h"

#include <time.h>

#include <cstddef>
#include <cstdint>

#include "palisade.h"

namespace palisade {

namespace {

#define PAL_FIELD(obj, type, field) (obj).Set(#field, Napi::Number::New(env, offsetof(type, field)))

Napi::Object Struct(Napi::Env env, size_t size, Napi::Object fields) {
  Napi::Object s = Napi::Object::New(env);
  s.Set("sizeof", Napi::Number::New(env, static_cast<double>(size)));
  s.Set("fields", fields);
  return s;
}

uint64_t ReadClock(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace

Napi::Value Layout(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);

  Napi::Object h = Napi::Object::New(env);
  PAL_FIELD(h, pal_event_header, kind);
  PAL_FIELD(h, pal_event_header, size);
  PAL_FIELD(h, pal_event_header, cpu);
  PAL_FIELD(h, pal_event_header, ts_ns);
  PAL_FIELD(h, pal_event_header, pid);
  PAL_FIELD(h, pal_event_header, tid);
  PAL_FIELD(h, pal_event_header, ppid);
  PAL_FIELD(h, pal_event_header, uid);
  PAL_FIELD(h, pal_event_header, gid);
  PAL_FIELD(h, pal_event_header, euid);
  PAL_FIELD(h, pal_event_header, cgroup_id);
  PAL_FIELD(h, pal_event_header, comm);
  PAL_FIELD(h, pal_event_header, parent_comm);
  out.Set("header", Struct(env, sizeof(pal_event_header), h));

  Napi::Object exec = Napi::Object::New(env);
  PAL_FIELD(exec, pal_exec_event, argc);
  PAL_FIELD(exec, pal_exec_event, args_len);
  PAL_FIELD(exec, pal_exec_event, flags);
  PAL_FIELD(exec, pal_exec_event, filename);
  PAL_FIELD(exec, pal_exec_event, cgroup_name);
  PAL_FIELD(exec, pal_exec_event, cap_effective);
  PAL_FIELD(exec, pal_exec_event, cap_permitted);
  PAL_FIELD(exec, pal_exec_event, pid_ns);
  PAL_FIELD(exec, pal_exec_event, mnt_ns);
  PAL_FIELD(exec, pal_exec_event, net_ns);
  PAL_FIELD(exec, pal_exec_event, loginuid);
  PAL_FIELD(exec, pal_exec_event, cwd);
  PAL_FIELD(exec, pal_exec_event, args);
  out.Set("exec", Struct(env, sizeof(pal_exec_event), exec));

  Napi::Object exit = Napi::Object::New(env);
  PAL_FIELD(exit, pal_exit_event, exit_code);
  out.Set("exit", Struct(env, sizeof(pal_exit_event), exit));

  Napi::Object open = Napi::Object::New(env);
  PAL_FIELD(open, pal_file_open_event, result);
  PAL_FIELD(open, pal_file_open_event, flags);
  PAL_FIELD(open, pal_file_open_event, mode);
  PAL_FIELD(open, pal_file_open_event, syscall);
  PAL_FIELD(open, pal_file_open_event, path_len);
  PAL_FIELD(open, pal_file_open_event, path);
  out.Set("fileOpen", Struct(env, sizeof(pal_file_open_event), open));

  Napi::Object conn = Napi::Object::New(env);
  PAL_FIELD(conn, pal_net_connect_event, result);
  PAL_FIELD(conn, pal_net_connect_event, family);
  PAL_FIELD(conn, pal_net_connect_event, dport);
  PAL_FIELD(conn, pal_net_connect_event, protocol);
  PAL_FIELD(conn, pal_net_connect_event, daddr);
  out.Set("netConnect", Struct(env, sizeof(pal_net_connect_event), conn));

  Napi::Object kill = Napi::Object::New(env);
  PAL_FIELD(kill, pal_process_kill_event, signal);
  PAL_FIELD(kill, pal_process_kill_event, reason);
  PAL_FIELD(kill, pal_process_kill_event, syscall);
  PAL_FIELD(kill, pal_process_kill_event, rule);
  PAL_FIELD(kill, pal_process_kill_event, late);
  PAL_FIELD(kill, pal_process_kill_event, path_len);
  PAL_FIELD(kill, pal_process_kill_event, path);
  out.Set("processKill", Struct(env, sizeof(pal_process_kill_event), kill));

  Napi::Object fork = Napi::Object::New(env);
  PAL_FIELD(fork, pal_fork_event, child_pid);
  PAL_FIELD(fork, pal_fork_event, child_tid);
  PAL_FIELD(fork, pal_fork_event, clone_flags);
  out.Set("fork", Struct(env, sizeof(pal_fork_event), fork));

  Napi::Object sys = Napi::Object::New(env);
  PAL_FIELD(sys, pal_syscall_event, result);
  PAL_FIELD(sys, pal_syscall_event, args);
  PAL_FIELD(sys, pal_syscall_event, op);
  PAL_FIELD(sys, pal_syscall_event, str0);
  PAL_FIELD(sys, pal_syscall_event, str1);
  PAL_FIELD(sys, pal_syscall_event, str2);
  out.Set("syscall", Struct(env, sizeof(pal_syscall_event), sys));

  Napi::Object sock = Napi::Object::New(env);
  PAL_FIELD(sock, pal_net_socket_event, result);
  PAL_FIELD(sock, pal_net_socket_event, op);
  PAL_FIELD(sock, pal_net_socket_event, family);
  PAL_FIELD(sock, pal_net_socket_event, port);
  PAL_FIELD(sock, pal_net_socket_event, protocol);
  PAL_FIELD(sock, pal_net_socket_event, backlog);
  PAL_FIELD(sock, pal_net_socket_event, addr);
  out.Set("netSocket", Struct(env, sizeof(pal_net_socket_event), sock));

  Napi::Object dns = Napi::Object::New(env);
  PAL_FIELD(dns, pal_dns_event, op);
  PAL_FIELD(dns, pal_dns_event, family);
  PAL_FIELD(dns, pal_dns_event, dport);
  PAL_FIELD(dns, pal_dns_event, len);
  PAL_FIELD(dns, pal_dns_event, daddr);
  PAL_FIELD(dns, pal_dns_event, msg);
  out.Set("dns", Struct(env, sizeof(pal_dns_event), dns));


  Napi::Object c = Napi::Object::New(env);
  c.Set("commLen", PAL_COMM_LEN);
  c.Set("pathMax", PAL_PATH_MAX);
  c.Set("cgroupNameMax", PAL_CGROUP_NAME_MAX);
  c.Set("argvMaxBytes", PAL_ARGV_MAX_BYTES);
  c.Set("argvMaxArgs", PAL_ARGV_MAX_ARGS);
  c.Set("execArgsTruncated", PAL_EXEC_ARGS_TRUNCATED);
  c.Set("kindExec", static_cast<int>(PAL_EVENT_PROCESS_EXEC));
  c.Set("kindExit", static_cast<int>(PAL_EVENT_PROCESS_EXIT));
  c.Set("kindFileOpen", static_cast<int>(PAL_EVENT_FILE_OPEN));
  c.Set("kindNetConnect", static_cast<int>(PAL_EVENT_NET_CONNECT));
  c.Set("syscallOpenat", static_cast<int>(PAL_SYSCALL_OPENAT));
  c.Set("syscallOpenat2", static_cast<int>(PAL_SYSCALL_OPENAT2));
  c.Set("syscallOpen", static_cast<int>(PAL_SYSCALL_OPEN));
  c.Set("execFromMemfd", PAL_EXEC_FROM_MEMFD);
  c.Set("execCwdTruncated", PAL_EXEC_CWD_TRUNCATED);
  c.Set("syscallArgs", PAL_SYSCALL_ARGS);
  c.Set("strShort", PAL_STR_SHORT);
  c.Set("dnsMax", PAL_DNS_MAX);
  c.Set("kindProcessKill", static_cast<int>(PAL_EVENT_PROCESS_KILL));
  c.Set("kindProcessFork", static_cast<int>(PAL_EVENT_PROCESS_FORK));
  c.Set("kindFileOp", static_cast<int>(PAL_EVENT_FILE_OP));
  c.Set("kindNetSocket", static_cast<int>(PAL_EVENT_NET_SOCKET));
  c.Set("kindDnsQuery", static_cast<int>(PAL_EVENT_DNS_QUERY));
  c.Set("kindPrivSetid", static_cast<int>(PAL_EVENT_PRIV_SETID));
  c.Set("kindCapset", static_cast<int>(PAL_EVENT_CAPSET));
  c.Set("kindPtrace", static_cast<int>(PAL_EVENT_PTRACE));
  c.Set("kindMount", static_cast<int>(PAL_EVENT_MOUNT));
  c.Set("kindNamespace", static_cast<int>(PAL_EVENT_NAMESPACE));
  c.Set("kindModuleLoad", static_cast<int>(PAL_EVENT_MODULE_LOAD));
  c.Set("kindBpfProgLoad", static_cast<int>(PAL_EVENT_BPF_PROG_LOAD));
  c.Set("kindMemfdCreate", static_cast<int>(PAL_EVENT_MEMFD_CREATE));
  c.Set("kindSignal", static_cast<int>(PAL_EVENT_SIGNAL));
  c.Set("killReasonBinary", static_cast<int>(PAL_KILL_BINARY));
  c.Set("killReasonPathPrefix", static_cast<int>(PAL_KILL_PATH_PREFIX));
  // enum pal_op, by syscall name
#define PAL_OP(name, value) c.Set("op" name, static_cast<int>(value))
  PAL_OP("Unlink", PAL_OP_UNLINK); PAL_OP("Unlinkat", PAL_OP_UNLINKAT); PAL_OP("Rename", PAL_OP_RENAME);
  PAL_OP("Renameat", PAL_OP_RENAMEAT); PAL_OP("Renameat2", PAL_OP_RENAMEAT2); PAL_OP("Chmod", PAL_OP_CHMOD);
  PAL_OP("Fchmodat", PAL_OP_FCHMODAT); PAL_OP("Chown", PAL_OP_CHOWN); PAL_OP("Fchownat", PAL_OP_FCHOWNAT);
  PAL_OP("Lchown", PAL_OP_LCHOWN); PAL_OP("Setuid", PAL_OP_SETUID); PAL_OP("Setgid", PAL_OP_SETGID);
  PAL_OP("Setreuid", PAL_OP_SETREUID); PAL_OP("Setregid", PAL_OP_SETREGID); PAL_OP("Setresuid", PAL_OP_SETRESUID);
  PAL_OP("Setresgid", PAL_OP_SETRESGID); PAL_OP("Capset", PAL_OP_CAPSET); PAL_OP("Ptrace", PAL_OP_PTRACE);
  PAL_OP("Mount", PAL_OP_MOUNT); PAL_OP("Umount2", PAL_OP_UMOUNT2); PAL_OP("Unshare", PAL_OP_UNSHARE);
  PAL_OP("Setns", PAL_OP_SETNS); PAL_OP("InitModule", PAL_OP_INIT_MODULE); PAL_OP("FinitModule", PAL_OP_FINIT_MODULE);
  PAL_OP("Bpf", PAL_OP_BPF); PAL_OP("MemfdCreate", PAL_OP_MEMFD_CREATE); PAL_OP("Kill", PAL_OP_KILL);
  PAL_OP("Tkill", PAL_OP_TKILL); PAL_OP("Tgkill", PAL_OP_TGKILL); PAL_OP("Accept", PAL_OP_ACCEPT);
  PAL_OP("Accept4", PAL_OP_ACCEPT4); PAL_OP("Bind", PAL_OP_BIND); PAL_OP("Listen", PAL_OP_LISTEN);
  PAL_OP("Sendto", PAL_OP_SENDTO); PAL_OP("Sendmsg", PAL_OP_SENDMSG); PAL_OP("Sendmmsg", PAL_OP_SENDMMSG);
#undef PAL_OP
  out.Set("constants", c);
  return out;
}


// Kept apart from layout() until the event decoder knows PAL_EVENT_PROCESS_KILL: layout() is compared whole with
// the decoder's LAYOUT, and the filter's constants are checked by native.test.ts against native.ts.
Napi::Value FilterLayout(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);

  Napi::Object kill = Napi::Object::New(env);
  PAL_FIELD(kill, pal_process_kill_event, signal);
  PAL_FIELD(kill, pal_process_kill_event, reason);
  PAL_FIELD(kill, pal_process_kill_event, syscall);
  PAL_FIELD(kill, pal_process_kill_event, rule);
  PAL_FIELD(kill, pal_process_kill_event, late);
  PAL_FIELD(kill, pal_process_kill_event, path_len);
  PAL_FIELD(kill, pal_process_kill_event, path);
  out.Set("processKill", Struct(env, sizeof(pal_process_kill_event), kill));
  Napi::Object c = Napi::Object::New(env);
  c.Set("kindProcessKill", static_cast<int>(PAL_EVENT_PROCESS_KILL));
  c.Set("killReasonBinary", static_cast<int>(PAL_KILL_BINARY));
  c.Set("killReasonPathPrefix", static_cast<int>(PAL_KILL_PATH_PREFIX));
  c.Set("filterCommEntries", PAL_FILTER_COMM_ENTRIES);
  c.Set("filterPrefixes", PAL_FILTER_PREFIXES);
  c.Set("filterPrefixMax", PAL_FILTER_PREFIX_MAX);
  c.Set("actionDrop", static_cast<int>(PAL_ACTION_DROP));
  c.Set("actionSigkill", static_cast<int>(PAL_ACTION_SIGKILL));
  c.Set("filterEmitKillEvents", PAL_FILTER_EMIT_KILL_EVENTS);
  out.Set("constants", c);
  return out;
}

#undef PAL_FIELD

Napi::Value Clocks(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  // Bracket the boottime read with two realtime reads and take the midpoint: the pair is then off by at most half
  // the (sub-microsecond) gap, whatever the scheduler did in between.
  uint64_t r1 = ReadClock(CLOCK_REALTIME);
  uint64_t boot = ReadClock(CLOCK_BOOTTIME);
  uint64_t r2 = ReadClock(CLOCK_REALTIME);
  Napi::Object out = Napi::Object::New(env);
  out.Set("realtimeNs", Napi::BigInt::New(env, r1 + (r2 - r1) / 2));
  out.Set("boottimeNs", Napi::BigInt::New(env, boot));
  return out;
}

}  // namespace palisade
