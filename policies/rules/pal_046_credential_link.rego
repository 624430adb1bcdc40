# METADATA
# title: Link to a credential file in a container
# description: >-
#   A process in a container made a hard link (link/linkat: the existing file) or a symlink (symlink/symlinkat:
#   what the link points to, folded from its text and directory) to /etc/shadow, /etc/gshadow, /etc/sudoers or a
#   file in /etc/sudoers.d, an SSH host key (/etc/ssh/ssh_host_*_key) or a private key in a .ssh directory
#   (id_*, not .pub): a second name that lets a later read, copy or a misconfigured web server reach the secret
#   past path-based watches. Failed attempts count (protected_hardlinks refuses most, the intent shows). Not
#   caught: a link to a directory above the file (ln -s /etc /tmp/e), and bind mounts (PAL-026 sees mounts).
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1003/008/
# scope: package
# custom:
#   id: PAL-046
#   severity: high
#   mitre: T1003.008
#   actions: []
#   event_kinds: [file_op]
package palisade.rules.pal_046

import data.palisade.lib
import data.palisade.lib.attack
import data.palisade.lib.lists

kinds := {"link": "hard link", "linkat": "hard link", "symlink": "symlink", "symlinkat": "symlink"}

alerts contains {"index": i, "rule_id": "PAL-046", "message": msg} if {
	some i, e in input.events
	e.kind == "file_op"
	attack.in_container(e)
	k := kinds[e.file_op.syscall]
	secret(e.file_op.path)
	msg := sprintf("%s made a %s %s to %s (result %d) in %s", [
		attack.who(e), k, e.file_op.new_path, e.file_op.path, e.file_op.result, lib.workload(e),
	])
}

secret(p) if p in lists.credential_files

secret(p) if attack.below_any(p, lists.credential_dirs)

secret(p) if regex.match(`^/etc/ssh/ssh_host_[a-z0-9]+_key$`, p)

secret(p) if regex.match(`/\.ssh/id_[a-z0-9_]+$`, p)
