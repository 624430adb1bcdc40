# METADATA
# title: Shell or netcat spawned by a non-shell process in a container
# description: >-
#   A shell (lists.shells: sh, bash, dash, zsh, ash, ksh, mksh, csh, tcsh, fish) or netcat (lists.netcats: nc,
#   ncat, netcat, socat) was executed in a container by a parent that is neither a shell nor the container runtime:
#   the shape of a reverse shell from an exploited web server or interpreter. Parents that start container processes
#   legitimately are excluded (macros.container_starter): runc (its comm is also "runc:[2:INIT]"), containerd-shim*,
#   conmon, crun, youki, and the container init wrappers tini, dumb-init, docker-init and catatonit, which exec the
#   entrypoint's "sh -c". An application that shells out
#   (subprocess with shell=True, child_process.exec) matches too; exempt it by workload, not here.
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1059/004/
# scope: package
# custom:
#   id: PAL-002
#   severity: critical
#   mitre: T1059.004
#   actions: [quarantine]
#   event_kinds: [exec]
package palisade.rules.pal_002

import data.palisade.lib
import data.palisade.lib.lists
import data.palisade.lib.macros

spawned := lists.shells | lists.netcats

alerts contains {"index": i, "rule_id": "PAL-002", "message": msg} if {
	some i, e in input.events
	macros.spawned_process(e)
	macros.in_container(e)
	spawns_shell_or_netcat(e)
	parent := e.process.parent_comm

	# An unknown parent is not evidence of anything.
	parent != ""
	not parent in lists.shells
	not macros.container_starter(parent)
	msg := sprintf("%s (pid %d) was started by %s (ppid %d) in %s: possible reverse shell", [
		e.exec.filename, e.process.pid, parent, e.process.ppid, lib.workload(e),
	])
}

# comm follows the executed file's name (busybox applets included: /bin/sh -> comm "sh"); the filename's basename
# catches a renamed comm.
spawns_shell_or_netcat(e) if {
	some name in macros.proc_names(e)
	name in spawned
}
