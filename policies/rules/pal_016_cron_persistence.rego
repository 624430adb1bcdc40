# METADATA
# title: Cron job written in a container
# description: >-
#   A process in a container opened for writing, renamed onto, or changed the mode or owner of a cron table:
#   /etc/crontab, /etc/anacrontab, a file below /etc/cron.d or /etc/cron.{hourly,daily,weekly,monthly}, or a user
#   crontab below /var/spool/cron (where crontab(1) writes). Containers do not schedule jobs by editing cron
#   tables at run time; an image that ships a crontab wrote it at build time, which is not seen here. Failed
#   attempts count (a read-only root filesystem still shows the intent). Reading cron tables does not fire. A
#   system package manager's lineage is left alone (PAL-034 reports it).
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1053/003/
# scope: package
# custom:
#   id: PAL-016
#   severity: high
#   mitre: T1053.003
#   actions: []
#   event_kinds: [file_open, file_op]
package palisade.rules.pal_016

import data.palisade.lib
import data.palisade.lib.attack

alerts contains {"index": i, "rule_id": "PAL-016", "message": msg} if {
	some i, c in attack.container_changes
	e := input.events[i]
	attack.cron_path(c.path)

	# A package being installed lays down its own files; PAL-034 reports the package manager.
	not attack.package_manager_lineage(e)
	msg := sprintf("%s %s in %s", [attack.who(e), c.how, lib.workload(e)])
}
