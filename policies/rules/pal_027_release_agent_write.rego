# METADATA
# title: cgroup release_agent written in a container
# description: >-
#   A process in a container opened a cgroup v1 release_agent file for writing (or renamed onto or chmod-ed one):
#   the kernel runs the program named there as root in the host's namespaces when a cgroup of that hierarchy
#   empties, the best-known container escape (CVE-2022-0492). Matched by the file's name in any directory, since
#   the escape mounts its own cgroup hierarchy wherever it can (/tmp/cgrp). High confidence, so quarantine.
#   Caveat: the default TracingPolicy drops opens below /sys/fs/cgroup/ in the kernel, so a write through the
#   container's own /sys/fs/cgroup mount is not seen; the mount of a new cgroup hierarchy (PAL-026) still is.
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1611/
# scope: package
# custom:
#   id: PAL-027
#   severity: critical
#   mitre: T1611
#   actions: [quarantine]
#   event_kinds: [file_open, file_op]
package palisade.rules.pal_027

import data.palisade.lib
import data.palisade.lib.attack

alerts contains {"index": i, "rule_id": "PAL-027", "message": msg} if {
	some i, c in attack.container_changes
	e := input.events[i]
	lib.basename(c.path) == "release_agent"
	msg := sprintf("%s %s in %s: the host runs it as root", [attack.who(e), c.how, lib.workload(e)])
}
