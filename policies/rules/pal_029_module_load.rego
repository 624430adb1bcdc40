# METADATA
# title: Kernel module load attempted from a container
# description: >-
#   init_module or finit_module called by a process in a container, whatever the result: a module runs in the
#   host's kernel, so loading one is a full escape and a rootkit's way in. Containers never need it (drivers are
#   the node's business), and an unprivileged container's attempt fails with EPERM but still shows intent, so the
#   recommended action is quarantine. insmod and modprobe are covered by the syscall they make.
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1547/006/
# scope: package
# custom:
#   id: PAL-029
#   severity: critical
#   mitre: T1547.006
#   actions: [quarantine]
#   event_kinds: [module_load]
package palisade.rules.pal_029

import data.palisade.lib
import data.palisade.lib.attack

alerts contains {"index": i, "rule_id": "PAL-029", "message": msg} if {
	some i, e in input.events
	e.kind == "module_load"
	attack.in_container(e)
	m := e.module_load
	msg := sprintf("%s called %s%s (result %d) in %s", [attack.who(e), m.syscall, module_file(m), m.result, lib.workload(e)])
}

module_file(m) := sprintf(" on %s", [m.file_name]) if m.file_name != ""

module_file(m) := "" if m.file_name == ""
