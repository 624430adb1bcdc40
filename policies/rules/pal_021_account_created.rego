# METADATA
# title: Local account or group created or changed in a container
# description: >-
#   A process in a container opened for writing, renamed onto, or changed the mode or owner of the account
#   databases (/etc/passwd, /etc/shadow, /etc/group, /etc/gshadow, /etc/subuid, /etc/subgid, their - backups and
#   + temporaries, the shadow-utils locks), or ran an account tool (useradd, adduser, groupadd, addgroup,
#   usermod, groupmod, chpasswd, newusers, gpasswd, vipw, vigr). A new uid 0 line in /etc/passwd is the classic
#   backdoor. Reading /etc/passwd (every ls -l and id does) does not fire; a system package manager's lineage is
#   left alone (postinst scripts add system users: PAL-034 reports the package manager itself).
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1136/001/
# scope: package
# custom:
#   id: PAL-021
#   severity: high
#   mitre: T1136.001
#   actions: []
#   event_kinds: [exec, file_open, file_op]
package palisade.rules.pal_021

import data.palisade.lib
import data.palisade.lib.attack

alerts contains {"index": i, "rule_id": "PAL-021", "message": msg} if {
	some i, c in attack.container_changes
	e := input.events[i]
	attack.account_path(c.path)
	not attack.package_manager_lineage(e)
	msg := sprintf("%s %s in %s", [attack.who(e), c.how, lib.workload(e)])
}

account_tools := {
	"useradd", "adduser", "groupadd", "addgroup", "usermod", "groupmod", "chpasswd", "newusers", "gpasswd", "vipw",
	"vigr",
}

alerts contains {"index": i, "rule_id": "PAL-021", "message": msg} if {
	some i, e in input.events
	e.kind == "exec"
	attack.in_container(e)
	tool := attack.exec_name(e)
	tool in account_tools
	not attack.package_manager_lineage(e)
	msg := sprintf("%s (pid %d, uid %d) ran %s in %s", [tool, e.process.pid, e.process.uid, concat(" ", e.exec.argv), lib.workload(e)])
}
