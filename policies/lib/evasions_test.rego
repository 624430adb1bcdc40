# The rules against the evasions of test/e2e/evasions.test.ts, as input documents: each case is the event the kernel
# gives for the evasive spelling of a technique, and must fire the same rule the plain spelling fires; the near misses
# next to them must not.
package palisade.lib.evasions_test

import data.palisade.lib.attack_fixtures as af
import data.palisade.lib.fixtures
import data.palisade.lib.macros
import data.palisade.rules.pal_002
import data.palisade.rules.pal_004
import data.palisade.rules.pal_006
import data.palisade.rules.pal_015
import data.palisade.rules.pal_016
import data.palisade.rules.pal_026
import data.palisade.rules.pal_037
import data.palisade.rules.pal_041

run_002(events) := got if {
	got := pal_002.alerts with input as {"events": events}
}

run_004(events) := got if {
	got := pal_004.alerts with input as {"events": events}
}

run_006(events) := got if {
	got := pal_006.alerts with input as {"events": events}
}

run_015(events) := got if {
	got := pal_015.alerts with input as {"events": events}
}

run_016(events) := got if {
	got := pal_016.alerts with input as {"events": events}
}

run_037(events) := got if {
	got := pal_037.alerts with input as {"events": events}
}

run_041(events) := got if {
	got := pal_041.alerts with input as {"events": events}
}

tcp(fd, addr, port) := {
	"fd": fd, "family": "inet", "type": "stream", "protocol": 6, "peer_addr": addr, "peer_port": port,
	"unix_path": "", "connected": true, "local_addr": "", "local_port": 0,
}

exec_socks(filename, argv, comm, socks) := object.union(
	fixtures.exec(filename, argv, {"comm": comm, "parent_comm": "worker", "binary": filename}),
	{"exec": {"filename": filename, "argv": argv, "cwd": "/srv", "stdio_sockets": socks}},
)

both(addr, port) := [tcp(0, addr, port), tcp(1, addr, port), tcp(2, addr, port)]

# ---- multiplexers: busybox applets and the loader run as a program.

test_invoked_names_of_busybox_and_the_loader if {
	macros.invoked_names(fixtures.exec("/usr/bin/busybox", ["busybox", "sh"], {})) == {"sh"}
	macros.invoked_names(fixtures.exec("/lib64/ld-linux-x86-64.so.2", ["ld-linux-x86-64.so.2", "/bin/sh", "-c", "id"], {})) == {"sh"}
	macros.invoked_names(fixtures.exec("/lib64/ld-linux-x86-64.so.2", ["ld.so", "--library-path", "/x", "--", "/bin/bash"], {})) == {"bash"}
	macros.invoked_names(fixtures.exec("/lib/ld-musl-x86_64.so.1", ["ld", "sh"], {})) == {"sh"}
	macros.invoked_names(fixtures.exec("/bin/cat", ["cat", "/bin/sh"], {})) == set()
	macros.invoked_names(fixtures.file_open("/etc/hostname")) == set()
}

test_loader_operand_is_made_absolute_with_the_cwd if {
	e := object.union(fixtures.exec("/lib64/ld-linux-x86-64.so.2", ["ld", "./x"], {}), {"exec": {"cwd": "/tmp/w"}})
	macros.loader_operand(e) == "/tmp/w/./x"
}

test_busybox_shell_with_a_socket_stdio_is_a_reverse_shell if {
	got := pal_002.alerts with input as {"events": [exec_socks("/usr/bin/busybox", ["busybox", "sh"], "busybox", [tcp(0, "203.0.113.7", 4444)])]}
	{a.key | some a in got} == {"203.0.113.7:4444"}
}

test_a_service_spawning_busybox_sh_or_the_loader_on_sh_fires_pal_006 if {
	proc := {"comm": "busybox", "parent_comm": "httpd", "binary": "/usr/bin/busybox", "parent_binary": "/srv/httpd"}
	bb := fixtures.exec("/usr/bin/busybox", ["busybox", "sh", "-c", "id"], proc)
	ld := fixtures.exec("/lib64/ld-linux-x86-64.so.2", ["/lib64/ld-linux-x86-64.so.2", "/bin/sh", "-c", "id"], object.union(proc, {"comm": "ld-linux-x86-64"}))
	ls := fixtures.exec("/usr/bin/busybox", ["busybox", "ls"], proc)
	{a.index | some a in run_006([bb, ld, ls])} == {0, 1}
}

# ---- PAL-002: any program started on one connection as stdin and stdout.

test_any_program_with_stdin_and_stdout_on_one_connection_fires if {
	got := pal_002.alerts with input as {"events": [exec_socks("/srv/x", ["x", "-i"], "x", both("127.0.0.1", 9001))]}
	got == {{
		"index": 0, "rule_id": "PAL-002", "key": "127.0.0.1:9001",
		"message": "/srv/x (pid 4242) started with its stdin and stdout a stream connection to 127.0.0.1:9001 in pod shop/web-7d9f8c6b5-x2x4q: reverse shell",
	}}
}

test_a_program_with_one_socket_or_two_peers_is_not_the_shape if {
	one := exec_socks("/srv/x", ["x"], "x", [tcp(1, "10.0.0.9", 8125)])
	two := exec_socks("/srv/x", ["x"], "x", [tcp(0, "10.0.0.9", 8125), tcp(1, "10.0.0.10", 8125)])
	host := fixtures.host(exec_socks("/srv/x", ["x"], "x", both("203.0.113.7", 4444)))
	count(run_002([one, two, host])) == 0
}

# ---- Persistence by link.

test_hard_and_sym_links_into_cron_d_fire_pal_016 if {
	hard := af.file_op("linkat", "/etc/.cache/j", "/etc/cron.d/j", 0)
	sym := af.file_op("symlinkat", "/root/j", "/etc/cron.d/k", 0)
	away := af.file_op("linkat", "/etc/cron.d/j", "/tmp/j", 0)
	{a.index | some a in run_016([hard, sym, away])} == {0, 1}
}

test_a_link_into_etc_is_a_system_dir_write if {
	count(run_015([af.file_op("linkat", "/tmp/x", "/etc/x.conf", 0)])) == 1
}

# ---- Destinations: mapped addresses and datagrams without connect.

test_unmapped if {
	macros.unmapped("::ffff:169.254.169.254") == "169.254.169.254"
	macros.unmapped("::FFFF:10.0.0.1") == "10.0.0.1"
	macros.unmapped("::ffff:a9fe:a9fe") == "::ffff:a9fe:a9fe"
	macros.unmapped("2001:db8::1") == "2001:db8::1"
}

sendto(addr, port) := fixtures.event("net_socket", {"comm": "python3", "binary": "/usr/bin/python3"}, {
	"syscall": "sendto", "family": 2, "addr": addr, "port": port, "protocol": "udp", "result": 1,
})

test_metadata_by_mapped_address_and_by_datagram_fires_pal_037 if {
	events := [af.connect6("::ffff:169.254.169.254", 80), sendto("169.254.169.254", 80), sendto("10.0.0.1", 80)]
	got := run_037(events)
	{a.index | some a in got} == {0, 1}
	some a in got
	a.index == 1
	a.message == "python3 (pid 4242, uid 1000) sent a datagram to the cloud metadata service 169.254.169.254 port 80 in pod shop/web-7d9f8c6b5-x2x4q"
}

test_denied_port_by_datagram_fires_pal_004_but_not_to_mapped_loopback if {
	events := [sendto("198.51.100.7", 4444), sendto("127.0.0.1", 4444), af.connect6("::ffff:127.0.0.1", 4444), sendto("198.51.100.7", 443)]
	{a.index | some a in run_004(events)} == {0}
}

# ---- PAL-041: the loader running a temp-dir binary.

test_loader_running_a_tmp_binary_fires_pal_041 if {
	abs := fixtures.exec("/lib64/ld-linux-x86-64.so.2", ["/lib64/ld-linux-x86-64.so.2", "/tmp/x"], {})
	rel := object.union(fixtures.exec("/lib64/ld-linux-x86-64.so.2", ["ld.so", "./x"], {}), {"exec": {"cwd": "/dev/shm"}})
	usr := fixtures.exec("/lib64/ld-linux-x86-64.so.2", ["ld.so", "/usr/bin/id"], {})
	{a.index | some a in run_041([abs, rel, usr])} == {0, 1}
}

# ---- PAL-026: a credential directory bound under another name.

bind(source, target) := af.kind_as(
	"mount", {
		"syscall": "mount", "source": source, "target": target, "fstype": "", "flags": 4096, "result": 0,
	},
	{"comm": "mount"},
)

test_a_bind_of_etc_or_a_key_dir_fires_pal_026 if {
	events := [bind("/etc", "/tmp/m"), bind("/root/.ssh/", "/tmp/k"), bind("/etc/shadow", "/tmp/s"), bind("/srv/data", "/tmp/d"), bind("/etcd", "/tmp/e")]
	got := pal_026.alerts with input as {"events": events}
	{a.index | some a in got} == {0, 1, 2}
	some a in got
	a.index == 0
	a.message == "mount (pid 4242, uid 1000) mounted a bind of a credential path (its files get a name no path rule knows) (/etc on /tmp/m, result 0) in pod shop/web-7d9f8c6b5-x2x4q"
}

test_the_new_mount_api_fires_pal_026 if {
	clone := af.kind_as("mount", {"syscall": "open_tree", "source": "/etc", "target": "", "fstype": "", "flags": 524289, "result": 3}, {"comm": "python3"})
	look := af.kind_as("mount", {"syscall": "open_tree", "source": "/etc", "target": "", "fstype": "", "flags": 524288, "result": 3}, {"comm": "python3"})
	proc := af.kind_as("mount", {"syscall": "fsopen", "source": "", "target": "", "fstype": "proc", "flags": 0, "result": 3}, {"comm": "python3"})
	tmp := af.kind_as("mount", {"syscall": "fsopen", "source": "", "target": "", "fstype": "tmpfs", "flags": 0, "result": 3}, {"comm": "python3"})
	{a.index | some a in pal_026.alerts with input as {"events": [clone, look, proc, tmp]}} == {0, 2}
}

unix(fd, path) := {
	"fd": fd, "family": "unix", "type": "stream", "protocol": 0, "peer_addr": "", "peer_port": 0,
	"unix_path": path, "connected": true, "local_addr": "", "local_port": 0,
}

test_a_shell_on_a_relayed_unix_socket_fires_pal_002_but_not_a_socketpair_or_journald if {
	relay := exec_socks("/bin/sh", ["sh"], "sh", [unix(0, "/srv/r.sock"), unix(1, "/srv/r.sock")])
	pair := exec_socks("/bin/sh", ["sh"], "sh", [unix(0, ""), unix(1, "")])
	journal := exec_socks("/bin/sh", ["sh"], "sh", [unix(1, "/run/systemd/journal/stdout")])
	got := run_002([relay, pair, journal])
	{a.key | some a in got} == {"unix:/srv/r.sock"}
	{a.index | some a in got} == {0}
}
