# METADATA
# title: Systemd unit written in a container
# description: >-
#   A process in a container opened for writing, renamed onto, or changed the mode or owner of a file in a systemd
#   unit directory (/etc/systemd/system, /etc/systemd/user, /lib and /usr/lib/systemd/{system,user},
#   /run/systemd/system, /usr/local/lib/systemd/system) or a user's ~/.config/systemd/user/. A container that can
#   write there has the host's unit directories mounted, or is preparing a unit for a host that will boot from
#   its image; either way a service unit is how code is made to start with the machine. Reading units does not
#   fire. Failed attempts count. A system package manager's lineage is left alone (PAL-034 reports it).
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1543/002/
# scope: package
# custom:
#   id: PAL-017
#   severity: high
#   mitre: T1543.002
#   actions: []
#   event_kinds: [file_open, file_op]
package palisade.rules.pal_017

import data.palisade.lib
import data.palisade.lib.attack

alerts contains {"index": i, "rule_id": "PAL-017", "message": msg} if {
	some i, c in attack.container_changes
	e := input.events[i]
	attack.systemd_path(c.path)

	# A package being installed lays down its own files; PAL-034 reports the package manager.
	not attack.package_manager_lineage(e)
	msg := sprintf("%s %s in %s", [attack.who(e), c.how, lib.workload(e)])
}
