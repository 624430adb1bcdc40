# METADATA
# title: Credential file opened in a container
# description: >-
#   A process in a container opened /etc/shadow, /etc/gshadow, /etc/sudoers or a file under /etc/sudoers.d/. Workloads
#   have no reason to touch password hashes or sudo policy; an attempt is the signal, so failed opens count too.
#   The path matched is the one the kernel resolved from the opened file (bpf/README.md "Kernel-resolved paths"), so
#   "//etc/shadow", "/etc/../etc/shadow", a symlink, /proc/self/root/etc/shadow or "shadow" after cd /etc all match;
#   a failed open is matched on the string as passed, made absolute and folded (file_open.path_resolution).
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1003/008/
# scope: package
# custom:
#   id: PAL-001
#   severity: high
#   mitre: T1003.008
#   actions: [quarantine]
#   event_kinds: [file_open]
package palisade.rules.pal_001

import data.palisade.lib
import data.palisade.lib.lists
import data.palisade.lib.macros

alerts contains {"index": i, "rule_id": "PAL-001", "message": msg} if {
	some i, e in input.events
	macros.opened_file(e)
	macros.in_container(e)
	credential_file(e.file_open.path)
	msg := sprintf("%s (pid %d, uid %d) opened %s in %s", [
		e.process.comm, e.process.pid, e.process.uid, e.file_open.path, lib.workload(e),
	])
}

credential_file(path) if path in lists.credential_files

# An entry of the sudoers drop-in directory, not the directory itself.
credential_file(path) if macros.below(path, lists.credential_dirs[_])
