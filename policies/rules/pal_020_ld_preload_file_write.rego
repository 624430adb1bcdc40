# METADATA
# title: /etc/ld.so.preload written in a container
# description: >-
#   A process in a container opened /etc/ld.so.preload for writing, renamed a file onto it, or changed its mode or
#   owner. The dynamic linker loads every library listed there into every dynamically linked program, which is
#   how userland rootkits hide processes and steal credentials. Nothing legitimate writes it at run time, so the
#   recommended action is quarantine. Reading it (ld.so does at every exec) does not fire. The LD_PRELOAD
#   environment variable is another signal, not read here.
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1574/006/
# scope: package
# custom:
#   id: PAL-020
#   severity: critical
#   mitre: T1574.006
#   actions: [quarantine]
#   event_kinds: [file_open, file_op]
package palisade.rules.pal_020

import data.palisade.lib
import data.palisade.lib.attack

alerts contains {"index": i, "rule_id": "PAL-020", "message": msg} if {
	some i, c in attack.container_changes
	e := input.events[i]
	attack.ld_preload_path(c.path)
	msg := sprintf("%s %s in %s", [attack.who(e), c.how, lib.workload(e)])
}
