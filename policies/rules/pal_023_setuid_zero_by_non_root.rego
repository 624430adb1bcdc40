# METADATA
# title: Non-root process asked for uid or gid 0 in a container
# description: >-
#   setuid, setreuid, setresuid (or the gid calls) in a container asking for id 0 in any slot, from a process whose
#   effective id before the call was not 0. A process that is not root and asks to become root either found a
#   way (a kernel exploit, a leaked CAP_SETUID, a saved set-user-id of 0) or is probing for one; both are
#   reported, with the result. Left alone: root dropping privileges (old effective id 0, as setuid-root binaries
#   like sudo and su run, and their own setuid exec is PAL-003's), and any call asking for a non-zero id.
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1068/
# scope: package
# custom:
#   id: PAL-023
#   severity: high
#   mitre: T1068
#   actions: []
#   event_kinds: [priv_setid]
package palisade.rules.pal_023

import data.palisade.lib
import data.palisade.lib.attack

uid_calls := {"setuid", "setreuid", "setresuid"}

alerts contains {"index": i, "rule_id": "PAL-023", "message": msg} if {
	some i, e in input.events
	e.kind == "priv_setid"
	attack.in_container(e)
	p := e.priv_setid
	p.old_effective != 0
	asks_for_zero(p)
	id := {true: "uid", false: "gid"}[p.syscall in uid_calls]
	msg := sprintf("%s called %s asking for %s 0 (it had %s %d, result %d) in %s", [
		attack.who(e), p.syscall, id, id, p.old_effective, p.result, lib.workload(e),
	])
}

asks_for_zero(p) if p.requested_real == 0

asks_for_zero(p) if p.requested_effective == 0

asks_for_zero(p) if p.requested_saved == 0
