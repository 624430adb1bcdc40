# METADATA
# title: userfaultfd created in a container
# description: >-
#   userfaultfd() called by a process in a container, whatever the result. It lets userspace stall the kernel on
#   a page fault at a moment of its choosing, which turns narrow kernel race conditions into reliable exploits
#   (the reason vm.unprivileged_userfaultfd exists). Few workloads use it; those that do (CRIU checkpointing, some
#   VM managers and garbage collectors) should be exempted by workload.
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1068/
# scope: package
# custom:
#   id: PAL-031
#   severity: medium
#   mitre: T1068
#   actions: []
#   event_kinds: [userfaultfd]
package palisade.rules.pal_031

import data.palisade.lib
import data.palisade.lib.attack

alerts contains {"index": i, "rule_id": "PAL-031", "message": msg} if {
	some i, e in input.events
	e.kind == "userfaultfd"
	attack.in_container(e)
	msg := sprintf("%s created a userfaultfd (flags %d, result %d) in %s", [
		attack.who(e), e.userfaultfd.flags, e.userfaultfd.result, lib.workload(e),
	])
}
