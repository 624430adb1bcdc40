package palisade.rules.pal_002_test

import data.palisade.lib.fixtures
import data.palisade.rules.pal_002

alerts_for(events) := got if {
	got := pal_002.alerts with input as {"events": events}
}

tcp(fd, addr, port) := {
	"fd": fd, "family": "inet", "type": "stream", "protocol": 6, "peer_addr": addr, "peer_port": port,
	"unix_path": "", "connected": true, "local_addr": "", "local_port": 0,
}

exec_with(filename, comm, parent, socks) := object.union(
	fixtures.exec(filename, [filename, "-i"], {"comm": comm, "parent_comm": parent, "binary": filename}),
	{"exec": {"filename": filename, "argv": [filename, "-i"], "stdio_sockets": socks}},
)

dup(comm, binary, newfd, sock) := fixtures.event("fd_dup", {"comm": comm, "binary": binary}, object.union(sock, {
	"syscall": "dup2", "old_fd": 3, "new_fd": newfd, "result": newfd, "flags": 0,
}))

test_bash_with_a_tcp_stdin_fires_whatever_its_parent if {
	alerts_for([exec_with("/bin/bash", "bash", "bash", [tcp(0, "203.0.113.7", 4444), tcp(1, "203.0.113.7", 4444)])]) == {{
		"index": 0,
		"rule_id": "PAL-002",
		"key": "203.0.113.7:4444",
		"message": "/bin/bash (pid 4242) started with its stdin a stream connection to 203.0.113.7:4444 in pod shop/web-7d9f8c6b5-x2x4q: reverse shell",
	}}
	count(alerts_for([exec_with("/bin/sh", "sh", "containerd-shim", [tcp(1, "10.0.0.9", 9001)])])) == 1
}

# Loopback is no excuse: a shell's stdin is never a TCP connection in ordinary work.
test_loopback_peer_fires if {
	count(alerts_for([exec_with("/bin/sh", "sh", "python3", [tcp(0, "127.0.0.1", 31337)])])) == 1
}

test_interpreters_and_netcats_fire if {
	events := [
		exec_with("/usr/bin/python3", "python3.11", "sh", [tcp(0, "203.0.113.7", 443)]),
		exec_with("/usr/bin/perl", "perl", "sh", [tcp(0, "203.0.113.7", 443)]),
		exec_with("/usr/bin/socat", "socat", "sh", [tcp(1, "203.0.113.7", 443)]),
		exec_with("/usr/bin/ncat", "ncat", "sh", [tcp(0, "203.0.113.7", 443)]),
	]
	{a.index | some a in alerts_for(events)} == {0, 1, 2, 3}
}

test_ipv6_peer_is_bracketed if {
	s := object.union(tcp(0, "2001:db8::7", 4444), {"family": "inet6"})
	{a.key | some a in alerts_for([exec_with("/bin/bash", "bash", "nginx", [s])])} == {"[2001:db8::7]:4444"}
}

test_dup2_of_a_socket_onto_stdout_by_a_shell_fires if {
	alerts_for([dup("bash", "/usr/bin/bash", 1, tcp(1, "203.0.113.7", 4444))]) == {{
		"index": 0,
		"rule_id": "PAL-002",
		"key": "203.0.113.7:4444",
		"message": "bash (pid 4242) made its stdout a connection to 203.0.113.7:4444 (dup2) in pod shop/web-7d9f8c6b5-x2x4q: reverse shell",
	}}
	count(alerts_for([dup("python3.11", "/usr/bin/python3.11", 0, tcp(0, "127.0.0.1", 9))])) == 1
}

# Near misses: what is a socket on stdio in ordinary work.
test_unix_and_unconnected_and_stderr_only_do_not_fire if {
	unix := {"fd": 0, "family": "unix", "type": "stream", "protocol": 0, "peer_addr": "", "peer_port": 0,
		"unix_path": "", "connected": false, "local_addr": "", "local_port": 0}
	listening := object.union(tcp(0, "", 0), {"connected": false, "local_addr": "0.0.0.0", "local_port": 8080})
	count(alerts_for([
		exec_with("/bin/sh", "sh", "node", [unix, object.union(unix, {"fd": 1})]),
		exec_with("/bin/sh", "sh", "inetd", [listening]),
		exec_with("/bin/sh", "sh", "bash", [tcp(2, "203.0.113.7", 4444)]),
		exec_with("/bin/sh", "sh", "bash", []),
	])) == 0
}

test_other_programs_with_socket_stdio_do_not_fire if {
	count(alerts_for([
		exec_with("/usr/sbin/nginx", "nginx", "sh", [tcp(0, "10.0.0.9", 80)]),
		dup("nginx", "/usr/sbin/nginx", 1, tcp(1, "10.0.0.9", 80)),
	])) == 0
}

test_dup_above_stdout_and_host_processes_do_not_fire if {
	count(alerts_for([
		dup("bash", "/usr/bin/bash", 2, tcp(2, "203.0.113.7", 4444)),
		fixtures.host(exec_with("/bin/bash", "bash", "sshd", [tcp(0, "203.0.113.7", 4444)])),
		fixtures.host(dup("bash", "/usr/bin/bash", 0, tcp(0, "203.0.113.7", 4444))),
	])) == 0
}
