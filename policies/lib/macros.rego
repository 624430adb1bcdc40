# METADATA
# title: Conditions the rules share
# description: >-
#   Small predicates over one input event (policies/README.md "The input document"), named like Falco's macros so a
#   rule reads as a sentence: `macros.spawned_process(e); macros.in_container(e); macros.proc_name(e) in lists.shells`.
#   Each is a function of the event, so a rule can combine them freely and their opa tests pin them down once.
# scope: package
package palisade.lib.macros

import data.palisade.lib
import data.palisade.lib.lists

# open(2) flag bits (asm-generic/fcntl.h, x86-64 and arm64 alike).
o_accmode := 3

o_creat := 64

o_trunc := 512

o_append := 1024

# "In a container" is the cgroup's verdict, never the enricher's: a pod not found yet is still a container.
in_container(e) if e.container != null

on_host(e) if e.container == null

spawned_process(e) if e.kind == "exec"

opened_file(e) if e.kind == "file_open"

# An open that can change the file: write access, or O_CREAT / O_TRUNC (even with O_RDONLY).
opened_for_write(e) if {
	e.kind == "file_open"
	bits.and(e.file_open.flags, o_accmode) != 0
}

opened_for_write(e) if {
	e.kind == "file_open"
	bits.and(e.file_open.flags, o_creat + o_trunc) != 0
}

opened_for_read(e) if {
	e.kind == "file_open"
	not opened_for_write(e)
}

# The open succeeded (result is the fd). Rules about attempts leave this out.
open_succeeded(e) if {
	e.kind == "file_open"
	e.file_open.result >= 0
}

# The program's name: the basename of the executed file on exec, else of the process binary, else its comm.
# Basenames, not comms: a comm is cut at 15 bytes and the process can rename it.
proc_name(e) := lib.basename(e.exec.filename) if {
	e.kind == "exec"
	e.exec.filename != ""
} else := lib.basename(e.process.binary) if {
	e.process.binary != ""
} else := e.process.comm

# The parent's name: basename of its binary when the collector knew it, else its comm ("" when unknown).
parent_name(e) := lib.basename(e.process.parent_binary) if {
	e.process.parent_binary != ""
} else := e.process.parent_comm

# Both spellings of the program, for lists of names: a renamed comm or a copied binary still matches. On an exec, also
# the program a multiplexer was asked to run (invoked_name): `busybox sh` and `ld-linux-x86-64.so.2 /bin/sh` are a
# shell, though the executable is busybox or the loader.
proc_names(e) := {proc_name(e), e.process.comm} | {n | some n in invoked_names(e)}

# The program an exec runs through a multiplexer binary: the busybox applet (`busybox sh`: argv[1]), or the operand of
# the dynamic loader run as a program (`ld-linux-x86-64.so.2 [--options] /bin/sh`: its first non-option argument).
invoked_names(e) := {lib.basename(e.exec.argv[1])} if {
	e.kind == "exec"
	lib.basename(e.exec.filename) == "busybox"
	count(e.exec.argv) > 1
} else := {lib.basename(p) | p := loader_operand(e)} if {
	e.kind == "exec"
} else := set()

# The file the dynamic loader was asked to run, as passed (relative paths resolved against the exec's cwd).
loader_operand(e) := p if {
	dynamic_loader(lib.basename(e.exec.filename))
	some k, a in e.exec.argv
	k > 0
	not startswith(a, "-")
	not loader_option_value(e.exec.argv, k)
	first_operand(e.exec.argv, k)
	p := absolute(a, object.get(e.exec, "cwd", ""))
}

# ld.so's options that take a value (glibc 2.33+: --library-path, --preload, --audit, --inhibit-rpath, --argv0).
loader_value_options := {"--library-path", "--preload", "--audit", "--inhibit-rpath", "--argv0", "--glibc-hwcaps-mask", "--glibc-hwcaps-prepend"}

loader_option_value(argv, k) if argv[k - 1] in loader_value_options

first_operand(argv, k) if {
	not earlier_operand(argv, k)
}

earlier_operand(argv, k) if {
	some j, a in argv
	j > 0
	j < k
	not startswith(a, "-")
	not loader_option_value(argv, j)
}

dynamic_loader(name) if regex.match(`^(ld-linux[-a-z0-9_]*\.so\.[0-9]+|ld-musl-[a-z0-9_]+\.so\.1|ld\.so)$`, name)

absolute(a, _) := a if startswith(a, "/")

absolute(a, cwd) := concat("/", [trim_suffix(cwd, "/"), a]) if {
	not startswith(a, "/")
	cwd != ""
}

# No cwd known: the name as passed.
absolute(a, "") := a if not startswith(a, "/")

parent_names(e) := {n | some n in {parent_name(e), e.process.parent_comm}; n != ""}

proc_is_shell(e) if {
	some n in proc_names(e)
	n in lists.shells
}

parent_is_shell(e) if {
	some n in parent_names(e)
	n in lists.shells
}

# The parent is the container runtime or an init wrapper: the exec is the container starting its entrypoint.
parent_is_container_start(e) if {
	some n in parent_names(e)
	container_starter(n)
}

container_starter(name) if name in lists.container_runtimes

container_starter(name) if name in lists.container_inits

container_starter(name) if {
	some p in lists.container_runtime_prefixes
	startswith(name, p)
}

# path is dir itself or below it: "/etc" and "/etc/x", never "/etcd". dir may end in "/" or not.
under(path, dir) if path == trim_suffix(dir, "/")

under(path, dir) if below(path, dir)

# path is strictly below dir: "/etc/sudoers.d/x", not "/etc/sudoers.d" nor "/etc/sudoers.d/".
below(path, dir) if {
	prefix := concat("", [trim_suffix(dir, "/"), "/"])
	startswith(path, prefix)
	count(path) > count(prefix)
}

# path is below (or is) one of the directories in dirs.
under_any(path, dirs) if {
	some d in dirs
	under(path, d)
}

# Loopback destinations: not egress.
loopback(addr) if startswith(addr, "127.")

loopback(addr) if addr == "::1"

loopback(addr) if startswith(addr, "::ffff:127.")

# An IPv4-mapped IPv6 address (::ffff:a.b.c.d, what an AF_INET6 socket connects to for an IPv4 peer) as the IPv4
# address it reaches; any other address as is. Compare destinations with this, or ::ffff:169.254.169.254 is a way in.
unmapped(addr) := trim_prefix(lower(addr), "::ffff:") if {
	startswith(lower(addr), "::ffff:")
	contains(addr, ".")
} else := addr

# Where an event sends to, for rules about destinations: a connect, or a datagram sent with an address and no
# connect (net_socket sendto/sendmsg/sendmmsg). {"addr": unmapped address, "port": port, "via": syscall}.
destination(e) := {"addr": unmapped(e.net_connect.daddr), "port": e.net_connect.dport, "via": "connect"} if {
	e.kind == "net_connect"
} else := {"addr": unmapped(e.net_socket.addr), "port": e.net_socket.port, "via": e.net_socket.syscall} if {
	e.kind == "net_socket"
	e.net_socket.syscall in {"sendto", "sendmsg", "sendmmsg"}
}

# Effective root after the exec while the real user is not root: a setuid-root binary did it.
gained_root(e) if {
	e.process.euid == 0
	e.process.uid != 0
}

# An interpreter by name, any version suffix: python3, python3.11, perl5.36, ruby3.1, php8.2, node, lua5.4.
# php-fpm and java are servers, not here: a shell under them is what a command injection looks like.
interpreter(name) if regex.match(`^(python|perl|ruby|php|lua|tclsh|wish|pypy)[0-9.]*$`, name)

interpreter(name) if name in {"node", "nodejs", "deno", "bun"}

# A socket as stdio that reaches the network: an inet/inet6 socket with a peer (policies/README.md exec.stdio_sockets
# and fd_dup). Any address, loopback included: a shell whose stdin is a TCP connection is a reverse shell wherever the
# other end is.
network_peer(s) if {
	s.family in {"inet", "inet6"}
	s.connected == true
}

peer_of(s) := sprintf("%s:%d", [s.peer_addr, s.peer_port]) if s.family == "inet"

peer_of(s) := sprintf("[%s]:%d", [s.peer_addr, s.peer_port]) if s.family == "inet6"
