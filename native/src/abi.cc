#include "abi.h"

#include <time.h>

#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

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

// "PROCESS_EXEC" -> "ProcessExec": how a registry name becomes part of a camelCase constant name.
std::string Pascal(const char* upper) {
  std::string out;
  bool up = true;
  for (const char* p = upper; *p != '\0'; p++) {
    if (*p == '_') {
      up = true;
      continue;
    }
    out += up ? *p : static_cast<char>(std::tolower(static_cast<unsigned char>(*p)));
    up = false;
  }
  return out;
}

std::string Camel(const char* upper) {
  std::string s = Pascal(upper);
  if (!s.empty()) s[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(s[0])));
  return s;
}

struct KindRow {
  int id;
  const char* c_name;
  const char* name;
};

#define PAL_X_KIND(NAME, id, name, family, doc) {id, #NAME, #name},
constexpr KindRow kKinds[] = {PAL_EVENT_KINDS(PAL_X_KIND)};
#undef PAL_X_KIND

}  // namespace

int KindIdByCName(const char* name) {
  for (const auto& k : kKinds) {
    if (strcmp(k.c_name, name) == 0) return k.id;
  }
  return 0;
}

const char* KindName(int id) {
  for (const auto& k : kKinds) {
    if (k.id == id) return k.name;
  }
  return nullptr;
}

Napi::Value Abi(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  // Every number by one camelCase name: kind<Name>, op<Name>, the limits, <group><Name> for the flag bits.
  Napi::Object c = Napi::Object::New(env);
  auto set = [&](const std::string& name, double v) { c.Set(name, Napi::Number::New(env, v)); };

  Napi::Array kinds = Napi::Array::New(env);
#define PAL_X_KIND(NAME, id, name, family, doc)                   \
  {                                                               \
    Napi::Object k = Napi::Object::New(env);                      \
    k.Set("id", Napi::Number::New(env, id));                      \
    k.Set("name", #name);                                         \
    k.Set("cName", #NAME);                                        \
    k.Set("family", #family);                                     \
    k.Set("doc", doc);                                            \
    kinds.Set(kinds.Length(), k);                                 \
    set("kind" + Pascal(#NAME), id);                              \
  }
  PAL_EVENT_KINDS(PAL_X_KIND)
#undef PAL_X_KIND
  out.Set("kinds", kinds);

  Napi::Array ops = Napi::Array::New(env);
#define PAL_X_OP(NAME, id, syscall)                               \
  {                                                               \
    Napi::Object o = Napi::Object::New(env);                      \
    o.Set("id", Napi::Number::New(env, id));                      \
    o.Set("cName", #NAME);                                        \
    o.Set("syscall", #syscall);                                   \
    ops.Set(ops.Length(), o);                                     \
    set("op" + Pascal(#NAME), id);                                \
  }
  PAL_OPS(PAL_X_OP)
#undef PAL_X_OP
  out.Set("ops", ops);

  Napi::Array stats = Napi::Array::New(env);
  auto stat = [&](const std::string& name, int id, bool loss, const char* source, const char* doc) {
    Napi::Object s = Napi::Object::New(env);
    s.Set("name", name);
    s.Set("id", Napi::Number::New(env, id));
    s.Set("loss", Napi::Boolean::New(env, loss));
    s.Set("source", source);
    s.Set("doc", doc);
    stats.Set(stats.Length(), s);
  };
  std::string lower;
#define PAL_X_STAT(NAME, id, loss, doc) \
  lower = #NAME;                        \
  for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch))); \
  stat(lower, id, loss, "kernel", doc);
  PAL_STATS(PAL_X_STAT)
#undef PAL_X_STAT
#define PAL_X_ADDON_STAT(name, loss, doc) stat(#name, -1, loss, "addon", doc);
  PAL_ADDON_STATS(PAL_X_ADDON_STAT)
#undef PAL_X_ADDON_STAT
  out.Set("stats", stats);

  Napi::Array limits = Napi::Array::New(env);
#define PAL_X_LIMIT(NAME, value, doc)                             \
  {                                                               \
    Napi::Object l = Napi::Object::New(env);                      \
    l.Set("name", Camel(#NAME));                                  \
    l.Set("cName", "PAL_" #NAME);                                 \
    l.Set("value", Napi::Number::New(env, value));                \
    l.Set("doc", doc);                                            \
    limits.Set(limits.Length(), l);                               \
    set(Camel(#NAME), value);                                     \
  }
  PAL_LIMITS(PAL_X_LIMIT)
#undef PAL_X_LIMIT
  out.Set("limits", limits);

#define PAL_X_CONST(GROUP, NAME, value) set(Camel(#GROUP "_" #NAME), value);
  PAL_CONSTANTS(PAL_X_CONST)
#undef PAL_X_CONST
  out.Set("constants", c);

  Napi::Object structs = Napi::Object::New(env);
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
  structs.Set("header", Struct(env, sizeof(pal_event_header), h));

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
  PAL_FIELD(exec, pal_exec_event, resolved);
  PAL_FIELD(exec, pal_exec_event, env_flags);
  PAL_FIELD(exec, pal_exec_event, origin_flags);
  PAL_FIELD(exec, pal_exec_event, env_count);
  PAL_FIELD(exec, pal_exec_event, env_bytes);
  PAL_FIELD(exec, pal_exec_event, exe_fs_magic);
  PAL_FIELD(exec, pal_exec_event, exe_ctime_ns);
  PAL_FIELD(exec, pal_exec_event, exe_mtime_ns);
  PAL_FIELD(exec, pal_exec_event, env_ld_preload);
  PAL_FIELD(exec, pal_exec_event, env_ld_library_path);
  PAL_FIELD(exec, pal_exec_event, env_ld_audit);
  PAL_FIELD(exec, pal_exec_event, stdio);
  PAL_FIELD(exec, pal_exec_event, args);
  structs.Set("exec", Struct(env, sizeof(pal_exec_event), exec));

  Napi::Object exit = Napi::Object::New(env);
  PAL_FIELD(exit, pal_exit_event, exit_code);
  structs.Set("exit", Struct(env, sizeof(pal_exit_event), exit));

  Napi::Object open = Napi::Object::New(env);
  PAL_FIELD(open, pal_file_open_event, result);
  PAL_FIELD(open, pal_file_open_event, flags);
  PAL_FIELD(open, pal_file_open_event, mode);
  PAL_FIELD(open, pal_file_open_event, syscall);
  PAL_FIELD(open, pal_file_open_event, path_len);
  PAL_FIELD(open, pal_file_open_event, arg_len);
  PAL_FIELD(open, pal_file_open_event, path_flags);
  PAL_FIELD(open, pal_file_open_event, write_flags);
  PAL_FIELD(open, pal_file_open_event, path);
  structs.Set("fileOpen", Struct(env, sizeof(pal_file_open_event), open));

  Napi::Object conn = Napi::Object::New(env);
  PAL_FIELD(conn, pal_net_connect_event, result);
  PAL_FIELD(conn, pal_net_connect_event, family);
  PAL_FIELD(conn, pal_net_connect_event, dport);
  PAL_FIELD(conn, pal_net_connect_event, protocol);
  PAL_FIELD(conn, pal_net_connect_event, daddr);
  structs.Set("netConnect", Struct(env, sizeof(pal_net_connect_event), conn));

  Napi::Object kill = Napi::Object::New(env);
  PAL_FIELD(kill, pal_process_kill_event, signal);
  PAL_FIELD(kill, pal_process_kill_event, reason);
  PAL_FIELD(kill, pal_process_kill_event, syscall);
  PAL_FIELD(kill, pal_process_kill_event, rule);
  PAL_FIELD(kill, pal_process_kill_event, late);
  PAL_FIELD(kill, pal_process_kill_event, path_len);
  PAL_FIELD(kill, pal_process_kill_event, path);
  structs.Set("processKill", Struct(env, sizeof(pal_process_kill_event), kill));

  Napi::Object fork = Napi::Object::New(env);
  PAL_FIELD(fork, pal_fork_event, child_pid);
  PAL_FIELD(fork, pal_fork_event, child_tid);
  PAL_FIELD(fork, pal_fork_event, clone_flags);
  structs.Set("fork", Struct(env, sizeof(pal_fork_event), fork));

  Napi::Object sys = Napi::Object::New(env);
  PAL_FIELD(sys, pal_syscall_event, result);
  PAL_FIELD(sys, pal_syscall_event, args);
  PAL_FIELD(sys, pal_syscall_event, op);
  PAL_FIELD(sys, pal_syscall_event, str0);
  PAL_FIELD(sys, pal_syscall_event, str1);
  PAL_FIELD(sys, pal_syscall_event, str2);
  PAL_FIELD(sys, pal_syscall_event, path_flags0);
  PAL_FIELD(sys, pal_syscall_event, path_flags1);
  PAL_FIELD(sys, pal_syscall_event, base0);
  PAL_FIELD(sys, pal_syscall_event, base1);
  structs.Set("syscall", Struct(env, sizeof(pal_syscall_event), sys));

  Napi::Object sock = Napi::Object::New(env);
  PAL_FIELD(sock, pal_net_socket_event, result);
  PAL_FIELD(sock, pal_net_socket_event, op);
  PAL_FIELD(sock, pal_net_socket_event, family);
  PAL_FIELD(sock, pal_net_socket_event, port);
  PAL_FIELD(sock, pal_net_socket_event, protocol);
  PAL_FIELD(sock, pal_net_socket_event, backlog);
  PAL_FIELD(sock, pal_net_socket_event, addr);
  PAL_FIELD(sock, pal_net_socket_event, sock_type);
  PAL_FIELD(sock, pal_net_socket_event, sock_protocol);
  structs.Set("netSocket", Struct(env, sizeof(pal_net_socket_event), sock));

  Napi::Object dns = Napi::Object::New(env);
  PAL_FIELD(dns, pal_dns_event, op);
  PAL_FIELD(dns, pal_dns_event, family);
  PAL_FIELD(dns, pal_dns_event, dport);
  PAL_FIELD(dns, pal_dns_event, len);
  PAL_FIELD(dns, pal_dns_event, daddr);
  PAL_FIELD(dns, pal_dns_event, msg);
  structs.Set("dns", Struct(env, sizeof(pal_dns_event), dns));

  Napi::Object ren = Napi::Object::New(env);
  PAL_FIELD(ren, pal_process_rename_event, target_pid);
  PAL_FIELD(ren, pal_process_rename_event, target_tid);
  PAL_FIELD(ren, pal_process_rename_event, op);
  PAL_FIELD(ren, pal_process_rename_event, exe_len);
  PAL_FIELD(ren, pal_process_rename_event, exe_flags);
  PAL_FIELD(ren, pal_process_rename_event, old_comm);
  PAL_FIELD(ren, pal_process_rename_event, new_comm);
  PAL_FIELD(ren, pal_process_rename_event, exe);
  structs.Set("processRename", Struct(env, sizeof(pal_process_rename_event), ren));
  // stdio sockets and FD_DUP (bpf/include/sock.bpf.h)
  Napi::Object si = Napi::Object::New(env);
  PAL_FIELD(si, pal_sock_info, family);
  PAL_FIELD(si, pal_sock_info, type);
  PAL_FIELD(si, pal_sock_info, protocol);
  PAL_FIELD(si, pal_sock_info, port);
  PAL_FIELD(si, pal_sock_info, flags);
  PAL_FIELD(si, pal_sock_info, addr);
  PAL_FIELD(si, pal_sock_info, unix_path);
  structs.Set("sockInfo", Struct(env, sizeof(pal_sock_info), si));

  Napi::Object dup = Napi::Object::New(env);
  PAL_FIELD(dup, pal_fd_dup_event, result);
  PAL_FIELD(dup, pal_fd_dup_event, op);
  PAL_FIELD(dup, pal_fd_dup_event, old_fd);
  PAL_FIELD(dup, pal_fd_dup_event, new_fd);
  PAL_FIELD(dup, pal_fd_dup_event, flags);
  PAL_FIELD(dup, pal_fd_dup_event, sock);
  structs.Set("fdDup", Struct(env, sizeof(pal_fd_dup_event), dup));


  out.Set("structs", structs);
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
