# METADATA
# title: Process killed by the in-kernel policy
# description: >-
#   The collector's TracingPolicy killed a process (action Sigkill) in the kernel, before the offending syscall
#   returned. The kill already happened; this alert puts it in front of a person and in the audit trail, with the
#   binary or path that matched. It fires for host processes too: a kill anywhere on the node is worth a look.
# scope: package
# custom:
#   id: PAL-005
#   severity: high
#   mitre: none
#   actions: []
#   event_kinds: [process_kill]
package palisade.rules.pal_005

import data.palisade.lib

alerts contains {"index": i, "rule_id": "PAL-005", "message": msg} if {
	some i, e in input.events
	e.kind == "process_kill"
	msg := sprintf("%s (pid %d) was killed with signal %d in %s: %s matched the policy, in %s", [
		e.process.comm, e.process.pid, e.process_kill.signal, e.process_kill.syscall, what(e.process_kill),
		lib.workload(e),
	])
}

what(k) := sprintf("path %s", [k.path]) if k.reason == "path_prefix"

else := "its binary"
