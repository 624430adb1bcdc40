package palisade.rules.pal_002_test

import data.palisade.lib.fixtures
import data.palisade.rules.pal_002

alerts_for(events) := got if {
	got := pal_002.alerts with input as {"events": events}
}

shell_from(filename, comm, parent) := fixtures.exec(filename, [filename, "-i"], {
	"comm": comm,
	"parent_comm": parent,
	"binary": filename,
})

test_bash_from_python_fires if {
	alerts_for([shell_from("/bin/bash", "bash", "python3")]) == {{
		"index": 0,
		"rule_id": "PAL-002",
		"message": "/bin/bash (pid 4242) was started by python3 (ppid 4200) in pod shop/web-7d9f8c6b5-x2x4q: possible reverse shell",
	}}
}

test_every_shell_and_netcat_fires_at_its_index if {
	events := [
		shell_from("/bin/sh", "sh", "nginx"),
		shell_from("/usr/bin/dash", "dash", "node"),
		shell_from("/bin/zsh", "zsh", "java"),
		shell_from("/bin/ash", "ash", "php-fpm"),
		shell_from("/bin/ksh", "ksh", "ruby"),
		shell_from("/usr/bin/nc", "nc", "python3"),
		shell_from("/usr/bin/ncat", "ncat", "python3"),
		shell_from("/bin/netcat", "netcat", "python3"),
		shell_from("/usr/bin/socat", "socat", "python3"),
	]
	indexes := {a.index | some a in alerts_for(events)}
	indexes == {n | some n in numbers.range(0, 8)}
	{a.rule_id | some a in alerts_for(events)} == {"PAL-002"}
}

# A renamed copy of a shell is still caught by comm; a shell under an odd path by its file name.
test_shell_found_by_comm_or_by_file_name if {
	count(alerts_for([shell_from("/tmp/.x", "bash", "python3")])) == 1
	count(alerts_for([shell_from("/bin/sh", "busybox", "python3")])) == 1
}

test_container_without_a_known_pod_fires if {
	count(alerts_for([fixtures.unenriched(shell_from("/bin/sh", "sh", "nginx"))])) == 1
}

test_host_process_does_not_fire if {
	count(alerts_for([fixtures.host(shell_from("/bin/bash", "bash", "python3"))])) == 0
}

test_shell_parents_do_not_fire if {
	count(alerts_for([
		shell_from("/bin/sh", "sh", "bash"),
		shell_from("/bin/bash", "bash", "sh"),
		shell_from("/usr/bin/nc", "nc", "bash"),
		shell_from("/bin/sh", "sh", "dash"),
		shell_from("/bin/sh", "sh", "zsh"),
		shell_from("/bin/sh", "sh", "ash"),
		shell_from("/bin/sh", "sh", "ksh"),
	])) == 0
}

test_runtime_parents_do_not_fire if {
	count(alerts_for([
		shell_from("/bin/sh", "sh", "runc"),
		shell_from("/bin/sh", "sh", "runc:[2:INIT]"),
		shell_from("/bin/sh", "sh", "containerd-shim"),
		shell_from("/bin/sh", "sh", "conmon"),
		shell_from("/bin/sh", "sh", "crun"),
		shell_from("/bin/sh", "sh", "tini"),
		shell_from("/bin/sh", "sh", "dumb-init"),
	])) == 0
}

test_unknown_parent_does_not_fire if {
	count(alerts_for([shell_from("/bin/bash", "bash", "")])) == 0
}

test_other_programs_do_not_fire if {
	count(alerts_for([
		shell_from("/usr/bin/python3", "python3", "python3"),
		shell_from("/usr/bin/bashbug", "bashbug", "python3"),
		shell_from("/usr/bin/shasum", "shasum", "python3"),
		shell_from("/usr/bin/ncdu", "ncdu", "python3"),
	])) == 0
}

test_other_event_kinds_do_not_fire if {
	ev := fixtures.file_open("/bin/bash")
	count(alerts_for([object.union(ev, {"process": object.union(ev.process, {"comm": "bash"})})])) == 0
}
