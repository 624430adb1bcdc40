# METADATA
# title: SSH authorized_keys written in a container
# description: >-
#   A process in a container opened for writing (create, truncate or append), renamed onto, or changed the mode or
#   owner of an authorized_keys or authorized_keys2 file, in any directory (sshd's AuthorizedKeysFile may point
#   anywhere): adding a key there gives a way back in that survives password changes. High confidence: no
#   workload edits authorized_keys at run time, so the recommended action is quarantine. Reading it (sshd
#   checking a login) does not fire. Failed attempts count.
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1098/004/
# scope: package
# custom:
#   id: PAL-018
#   severity: high
#   mitre: T1098.004
#   actions: [quarantine]
#   event_kinds: [file_open, file_op]
package palisade.rules.pal_018

import data.palisade.lib
import data.palisade.lib.attack

alerts contains {"index": i, "rule_id": "PAL-018", "message": msg} if {
	some i, c in attack.container_changes
	e := input.events[i]
	attack.authorized_keys_path(c.path)
	msg := sprintf("%s %s in %s", [attack.who(e), c.how, lib.workload(e)])
}
