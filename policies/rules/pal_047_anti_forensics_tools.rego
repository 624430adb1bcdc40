# METADATA
# title: Anti-forensics command in a container
# description: >-
#   An exec in a container of chattr removing the immutable or append-only attribute (`chattr -i`, `-a`, in any
#   combination: the step before rewriting a protected file, T1222.002), of shred, wipe or srm (overwriting a file
#   before deleting it, T1070.004), or of touch copying or setting a timestamp (`touch -r ref`, `--reference`,
#   `-d`/`--date`, `-t`: timestomping a dropped file to look old, T1070.006). Argument heuristics over exec.argv:
#   chattr +i (adding protection) and plain touch are left alone; a timestamp set with a library call (utimensat
#   from Python) is not seen.
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1070/006/
#   - ref: https://attack.mitre.org/techniques/T1070/004/
#   - ref: https://attack.mitre.org/techniques/T1222/002/
# scope: package
# custom:
#   id: PAL-047
#   severity: medium
#   mitre: T1070.006
#   actions: []
#   event_kinds: [exec]
package palisade.rules.pal_047

import data.palisade.lib
import data.palisade.lib.attack

alerts contains {"index": i, "rule_id": "PAL-047", "message": msg} if {
	some i, e in input.events
	e.kind == "exec"
	attack.in_container(e)
	what := technique(attack.exec_name(e), array.slice(e.exec.argv, 1, count(e.exec.argv)))
	msg := sprintf("%s (pid %d, uid %d) ran %s (%s) in %s", [
		e.exec.filename, e.process.pid, e.process.uid, concat(" ", e.exec.argv), what, lib.workload(e),
	])
}

technique(name, args) := "immutable attribute removed" if {
	name == "chattr"
	some a in args
	regex.match(`^-[aiAcdDeEjPsStTuFx]*[ia][aiAcdDeEjPsStTuFx]*$`, a)
} else := "file wiped" if {
	name in {"shred", "wipe", "srm"}
} else := "timestamp forged" if {
	name == "touch"
	some a in args
	timestomp_arg(a)
}

timestomp_arg(a) if a in {"-r", "--reference", "-d", "--date", "-t"}

timestomp_arg(a) if startswith(a, "--reference=")

timestomp_arg(a) if startswith(a, "--date=")

timestomp_arg(a) if regex.match(`^-[acmh]*[rdt].*$`, a)
