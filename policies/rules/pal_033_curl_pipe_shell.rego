# METADATA
# title: Download piped into a shell in a container (curl | sh)
# description: >-
#   A shell or interpreter exec in a container whose command (sh -c, bash -c, python -c ...) downloads with curl
#   or wget and hands the result straight to a shell or interpreter: curl ... | sh, wget -qO- ... | bash,
#   sh <(curl ...), bash -c "$(curl ...)", | python. The kernel shows a pipeline inside a script only as
#   separate children of one shell (the shell's argv is just sh), so this is an argv heuristic over the command
#   string the shell was given, and documented evasions remain: the pipeline in a script file, an encoded
#   command (base64 -d | sh), a download tool renamed or an interpreter's own HTTP client, download-then-run in
#   two steps. Fetching without running it (curl -o file) does not fire.
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1059/004/
# scope: package
# custom:
#   id: PAL-033
#   severity: high
#   mitre: T1059.004
#   actions: []
#   event_kinds: [exec]
package palisade.rules.pal_033

import data.palisade.lib
import data.palisade.lib.attack

runners := attack.shells | {"python", "python2", "python3", "perl", "ruby", "node", "php"}

fetch_and_run := [
	`\b(curl|wget)\b[^|;&]*\|\s*(sudo\s+(-\S+\s+)*)?(\S*/)?(ba|da|z|k|a|mk)?sh\b`,
	`\b(curl|wget)\b[^|;&]*\|\s*(sudo\s+(-\S+\s+)*)?(\S*/)?(python[0-9.]*|perl|ruby|node|php)\b`,
	`\b(ba|da|z|k|a)?sh\s+(-s\s+)?<\(\s*(curl|wget)\b`,
	`\b(eval|(ba|da|z|k|a)?sh\s+-c)\s+["']?\$\(\s*(curl|wget)\b`,
]

alerts contains {"index": i, "rule_id": "PAL-033", "message": msg} if {
	some i, e in input.events
	e.kind == "exec"
	attack.in_container(e)
	runner(e)
	script := concat(" ", array.slice(e.exec.argv, 1, count(e.exec.argv)))

	# Every pattern needs curl or wget (the test pins it): substring tests spare the regexes on every other script.
	downloads(script)
	some pattern in fetch_and_run
	regex.match(pattern, script)
	msg := sprintf("%s (pid %d, uid %d) runs a download as code: %s in %s", [
		e.process.comm, e.process.pid, e.process.uid, script, lib.workload(e),
	])
}

runner(e) if attack.exec_name(e) in runners

runner(e) if regex.match(`^python[0-9.]+$`, attack.exec_name(e))

downloads(script) if contains(script, "curl")

downloads(script) if contains(script, "wget")
