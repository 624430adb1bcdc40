# METADATA
# title: SSH private key read in a container
# description: >-
#   A process in a container opened a user's SSH private key (a file named id_* in a .ssh directory, not the .pub
#   half) or one of the host's keys (/etc/ssh/ssh_host_*_key), successful or not: keys are read to move laterally
#   or impersonate the host. The path is the kernel-resolved one, so symlinks and ../ detours match. The SSH tools
#   that use keys for their job (ssh, scp, sftp, ssh-add, ssh-agent, ssh-keygen, ssh-keysign; sshd for the host
#   keys) are left alone; git over ssh reads keys through ssh, so it is left alone too. Copying a key with cat,
#   cp, tar or an interpreter fires. Not covered: a key stored under another name (find/grep hunting is PAL-014).
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1552/004/
# scope: package
# custom:
#   id: PAL-010
#   severity: high
#   mitre: T1552.004
#   actions: []
#   event_kinds: [file_open]
package palisade.rules.pal_010

import data.palisade.lib
import data.palisade.lib.attack

ssh_tools := {"ssh", "scp", "sftp", "ssh-add", "ssh-agent", "ssh-keygen", "ssh-keysign", "sshd"}

alerts contains {"index": i, "rule_id": "PAL-010", "message": msg} if {
	some i, e in input.events
	e.kind == "file_open"
	attack.in_container(e)
	path := e.file_open.path

	# Both of key_kind's patterns contain "ssh": a substring test spares the regexes on every other open.
	contains(path, "ssh")
	some what in key_kind(path)
	not e.process.comm in ssh_tools
	msg := sprintf("%s read the %s %s in %s", [attack.who(e), what, path, lib.workload(e)])
}

key_kind(path) := {"SSH private key"} if {
	regex.match(`/\.ssh/id_[^/]+$`, path)
	not endswith(path, ".pub")
} else := {"SSH host key"} if {
	regex.match(`^/etc/ssh/ssh_host_[^/]+_key$`, path)
} else := set()
