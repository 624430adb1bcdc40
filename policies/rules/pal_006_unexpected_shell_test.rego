package palisade.rules.pal_006_test

import data.palisade.lib.fixtures
import data.palisade.rules.pal_006

alerts_for(events) := got if {
	got := pal_006.alerts with input as {"events": events}
}

shell_from(filename, parent_comm, parent_binary) := fixtures.exec(filename, [filename, "-c", "id"], {
	"comm": "sh", "binary": filename, "parent_comm": parent_comm, "parent_binary": parent_binary,
})

test_shell_from_a_web_server_fires if {
	alerts_for([shell_from("/bin/sh", "nginx", "/usr/sbin/nginx")]) == {{
		"index": 0,
		"rule_id": "PAL-006",
		"message": "/bin/sh (pid 4242) was started by nginx (ppid 4200) in pod shop/web-7d9f8c6b5-x2x4q: a service spawning a shell",
	}}
}

test_servers_jvm_and_php_fpm_fire if {
	events := [
		shell_from("/bin/sh", "java", "/usr/lib/jvm/java-17/bin/java"),
		shell_from("/bin/bash", "php-fpm8.2", "/usr/sbin/php-fpm8.2"),
		shell_from("/bin/sh", "postgres", "/usr/lib/postgresql/15/bin/postgres"),
		shell_from("/bin/sh", "httpd", ""),
	]
	{a.index | some a in alerts_for(events)} == {0, 1, 2, 3}
}

# The corpus' everyday shells (test/benign): interpreters, build tools, find, xargs, the container start.
test_everyday_parents_do_not_fire if {
	count(alerts_for([
		shell_from("/bin/sh", "python3.11", "/usr/bin/python3.11"),
		shell_from("/bin/sh", "npm install ./p", "/usr/bin/node"),
		shell_from("/bin/sh", "node", "/usr/bin/node"),
		shell_from("/bin/sh", "make", "/usr/bin/make"),
		shell_from("/bin/sh", "find", "/usr/bin/find"),
		shell_from("/bin/sh", "xargs", "/usr/bin/xargs"),
		shell_from("/bin/sh", "logrotate", "/usr/sbin/logrotate"),
		shell_from("/bin/sh", "containerd-shim", "/usr/bin/containerd-shim-runc-v2"),
		shell_from("/bin/sh", "runc:[2:INIT]", ""),
		shell_from("/bin/sh", "tini", "/sbin/tini"),
		shell_from("/bin/sh", "bash", "/bin/bash"),
		shell_from("/bin/sh", "perl5.36", "/usr/bin/perl5.36"),
	])) == 0
}

test_unknown_parent_host_and_non_shells_do_not_fire if {
	count(alerts_for([
		shell_from("/bin/sh", "", ""),
		fixtures.host(shell_from("/bin/sh", "nginx", "/usr/sbin/nginx")),
		fixtures.exec("/usr/bin/id", ["id"], {"comm": "id", "parent_comm": "nginx", "parent_binary": "/usr/sbin/nginx"}),
	])) == 0
}
