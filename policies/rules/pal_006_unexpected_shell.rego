# METADATA
# title: Shell started by an unexpected parent in a container
# description: >-
#   A shell was executed in a container by a parent that is not a shell, not the container's start (runtime or init
#   wrapper), not an interpreter and not one of the programs that run shells as ordinary work
#   (lists.shell_spawners: make and other build tools, find -exec, xargs, env, schedulers, supervisors). What is
#   left is a web or database server, php-fpm, a JVM or another service spawning a shell: the first step after a
#   command injection or deserialisation exploit (Log4Shell's `sh -c`). Interpreters are allowed because
#   subprocess(shell=True) and child_process.exec are everyday code; a reverse shell from one is PAL-002's.
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1059/004/
# scope: package
# custom:
#   id: PAL-006
#   severity: medium
#   mitre: T1059.004
#   actions: []
#   event_kinds: [exec]
package palisade.rules.pal_006

import data.palisade.lib
import data.palisade.lib.lists
import data.palisade.lib.macros

alerts contains {"index": i, "rule_id": "PAL-006", "message": msg} if {
	some i, e in input.events
	macros.spawned_process(e)
	macros.in_container(e)
	macros.proc_is_shell(e)
	parents := macros.parent_names(e)

	# An unknown parent is not evidence of anything.
	count(parents) > 0
	not macros.parent_is_shell(e)
	not macros.parent_is_container_start(e)
	not expected_parent(parents)
	msg := sprintf("%s (pid %d) was started by %s (ppid %d) in %s: a service spawning a shell", [
		e.exec.filename, e.process.pid, macros.parent_name(e), e.process.ppid, lib.workload(e),
	])
}

expected_parent(parents) if {
	some p in parents
	p in lists.shell_spawners
}

expected_parent(parents) if {
	some p in parents
	macros.interpreter(p)
}
