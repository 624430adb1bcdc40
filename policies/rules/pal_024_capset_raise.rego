# METADATA
# title: Capabilities raised with capset in a container
# description: >-
#   capset in a container that puts capabilities into the effective set that were not in it before the call (the
#   new effective mask has a bit the old one lacked), successful or not. Processes drop capabilities all the
#   time (every privilege-separated daemon does); raising one is what an exploit or a tool holding a permitted
#   capability in reserve does before using it. The container runtime's own setup (runc, crun) is left alone.
#   Not covered: capabilities gained by exec of a file with file capabilities (cap_effective on exec).
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1548/
# scope: package
# custom:
#   id: PAL-024
#   severity: medium
#   mitre: T1548
#   actions: []
#   event_kinds: [capset]
package palisade.rules.pal_024

import data.palisade.lib
import data.palisade.lib.attack

alerts contains {"index": i, "rule_id": "PAL-024", "message": msg} if {
	some i, e in input.events
	e.kind == "capset"
	attack.in_container(e)
	not attack.runtime_process(e.process.comm)
	c := e.capset
	added := c.effective - bits.and(c.effective, c.old_effective)
	added > 0
	msg := sprintf("%s raised %s into its effective capabilities (result %d) in %s", [
		attack.who(e), attack.cap_list(added), c.result, lib.workload(e),
	])
}
