# METADATA
# title: Process renamed to a trusted name in a container
# description: >-
#   A task in a container changed its comm (prctl(PR_SET_NAME) or a write to /proc/<pid>/comm, the
#   process_rename event) to a name that ps and top show as trusted: a kernel thread's (kworker*, ksoftirqd*,
#   kthreadd, migration/*, rcu_*, watchdog*, kswapd*, jbd2*, a [bracketed] name), or a well-known daemon's
#   (systemd*, init, sshd, kubelet, containerd*, dockerd, cron/crond, nginx, httpd, apache2, php-fpm, rsyslogd,
#   dbus-daemon, agetty, sh/bash), while its executable's own name is something else. Miners and implants do this
#   to hide in process lists. Not caught: a rename that keeps the executable's name (a daemon naming its
#   worker threads after itself), renames to names outside the list (say "worker-3"), and argv[0] rewrites
#   (those change /proc/<pid>/cmdline, not comm).
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1036/004/
# scope: package
# custom:
#   id: PAL-042
#   severity: high
#   mitre: T1036.004
#   actions: []
#   event_kinds: [process_rename]
package palisade.rules.pal_042

import data.palisade.lib
import data.palisade.lib.attack

trusted_names := {
	"kthreadd", "init", "sshd", "kubelet", "containerd", "dockerd", "cron", "crond", "nginx", "httpd",
	"apache2", "php-fpm", "rsyslogd", "dbus-daemon", "agetty", "sh", "bash", "kube-proxy", "etcd",
}

trusted_prefixes := {
	"kworker", "ksoftirqd", "migration/", "rcu_", "watchdog", "kswapd", "jbd2", "systemd", "containerd-",
	"kauditd", "khugepaged", "irq/", "cpuhp/",
}

alerts contains {"index": i, "rule_id": "PAL-042", "message": msg} if {
	some i, e in input.events
	e.kind == "process_rename"
	attack.in_container(e)
	r := e.process_rename
	trusted(r.new_comm)
	exe := object.get(r, "exe", "")
	exe_name := lib.basename(exe)
	not same_name(r.new_comm, exe_name)
	msg := sprintf("%s (pid %d, uid %d) renamed task %d from %s to %s (executable %s, via %s) in %s", [
		e.process.comm, e.process.pid, e.process.uid, r.target_pid, r.old_comm, r.new_comm, shown(exe), r.via,
		lib.workload(e),
	])
}

trusted(name) if name in trusted_names

trusted(name) if {
	some p in trusted_prefixes
	startswith(name, p)
}

trusted(name) if regex.match(`^\[.*\]$`, name)

# The comm is the executable's name, cut at 15 bytes as the kernel does.
same_name(comm, exe_name) if comm == substring(exe_name, 0, 15)

shown(exe) := exe if exe != ""

shown("") := "unknown"
