# METADATA
# title: Shell start-up file modified in a container
# description: >-
#   A process in a container opened for writing, renamed onto, or changed the mode of a shell start-up file: a
#   user's .bashrc, .bash_profile, .bash_login, .bash_logout, .profile, .zshrc, .zprofile, .zshenv, .zlogin,
#   .kshrc, .cshrc, .tcshrc or .mkshrc in any directory, or /etc/profile, /etc/bash.bashrc, /etc/bashrc,
#   /etc/environment, the zsh and csh system files, or a file below /etc/profile.d. Whatever is written there runs
#   in every later login shell (kubectl exec included). Reading the files (every shell start) does not fire. A
#   system package manager's lineage is left alone (PAL-034 reports it).
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1546/004/
# scope: package
# custom:
#   id: PAL-019
#   severity: medium
#   mitre: T1546.004
#   actions: []
#   event_kinds: [file_open, file_op]
package palisade.rules.pal_019

import data.palisade.lib
import data.palisade.lib.attack

alerts contains {"index": i, "rule_id": "PAL-019", "message": msg} if {
	some i, c in attack.container_changes
	e := input.events[i]
	attack.shell_rc_path(c.path)

	# A package being installed lays down its own files; PAL-034 reports the package manager.
	not attack.package_manager_lineage(e)
	msg := sprintf("%s %s in %s", [attack.who(e), c.how, lib.workload(e)])
}
