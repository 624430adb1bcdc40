# METADATA
# title: Setuid or setgid bit set in a container
# description: >-
#   chmod, fchmodat or fchmodat2 in a container with a mode that has the setuid (04000) or setgid (02000) bit:
#   a copy of a shell or an interpreter made setuid is a way back to root for any user of the container, and in a
#   volume shared with the host a way to root on the host. The kernel reports the mode asked for, so chmod u+s,
#   chmod 4755 and chmod g+s all match; the sticky bit (01000, chmod 1777 /tmp) does not. Failed attempts count.
#   A system package manager's lineage is left alone (packages install su, passwd and mount setuid; PAL-034 reports
#   the package manager). File capabilities (setxattr security.capability) are another signal, not read here.
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1548/001/
# scope: package
# custom:
#   id: PAL-022
#   severity: high
#   mitre: T1548.001
#   actions: []
#   event_kinds: [file_op]
package palisade.rules.pal_022

import data.palisade.lib
import data.palisade.lib.attack

setid_bits := 3072

alerts contains {"index": i, "rule_id": "PAL-022", "message": msg} if {
	some i, e in input.events
	e.kind == "file_op"
	attack.in_container(e)
	e.file_op.syscall in attack.chmod_syscalls
	bits.and(e.file_op.mode, setid_bits) != 0
	not attack.package_manager_lineage(e)
	msg := sprintf("%s set the %s bit on %s (mode %s) in %s", [
		attack.who(e), bit_names(e.file_op.mode), e.file_op.path, octal(e.file_op.mode), lib.workload(e),
	])
}

bit_names(mode) := "setuid and setgid" if {
	bits.and(mode, 2048) != 0
	bits.and(mode, 1024) != 0
} else := "setuid" if {
	bits.and(mode, 2048) != 0
} else := "setgid"

octal(mode) := sprintf("0%s", [format_int(bits.and(mode, 4095), 8)])
