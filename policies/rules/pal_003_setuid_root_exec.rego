# METADATA
# title: Setuid-root binary executed by a non-root user in a container
# description: >-
#   After an exec in a container the process runs with effective uid 0 while its real uid is not 0: a setuid-root
#   binary gave an unprivileged user root. Containers should run with no_new_privs (allowPrivilegeEscalation: false),
#   which makes the kernel ignore the setuid bit, so this firing also means that setting is missing.
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1548/001/
# scope: package
# custom:
#   id: PAL-003
#   severity: high
#   mitre: T1548.001
#   actions: [quarantine]
#   event_kinds: [exec]
package palisade.rules.pal_003

import data.palisade.lib
import data.palisade.lib.macros

alerts contains {"index": i, "rule_id": "PAL-003", "message": msg} if {
	some i, e in input.events
	macros.spawned_process(e)
	macros.in_container(e)
	macros.gained_root(e)
	msg := sprintf("%s (pid %d) runs as euid 0 for uid %d after exec of %s in %s", [
		e.process.comm, e.process.pid, e.process.uid, e.exec.filename, lib.workload(e),
	])
}
