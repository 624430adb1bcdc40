# METADATA
# title: Another process's environment or memory read in a container
# description: >-
#   A process in a container opened /proc/<pid>/environ or /proc/<pid>/mem (or the same under task/<tid>/) of a
#   process other than itself: secrets passed in environment variables and keys held in memory are read this way
#   (T1003.007). Its own entries are left alone whatever the spelling: /proc/self resolves to its own pid, which is
#   compared. Not covered: /proc/<pid>/cmdline, maps or fd/ (read by ps, top and every monitoring agent), and
#   process_vm_readv or ptrace (PAL-028).
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1003/007/
# scope: package
# custom:
#   id: PAL-013
#   severity: high
#   mitre: T1003.007
#   actions: []
#   event_kinds: [file_open]
package palisade.rules.pal_013

import data.palisade.lib
import data.palisade.lib.attack

alerts contains {"index": i, "rule_id": "PAL-013", "message": msg} if {
	some i, e in input.events
	e.kind == "file_open"
	attack.in_container(e)

	# The pattern is anchored at "/proc/": a prefix test spares the regex on every other open.
	startswith(e.file_open.path, "/proc/")
	m := regex.find_all_string_submatch_n(`^/proc/([0-9]+)/(task/[0-9]+/)?(environ|mem)$`, e.file_open.path, 1)
	count(m) == 1
	target := to_number(m[0][1])
	target != e.process.pid
	what := {"environ": "environment", "mem": "memory"}[m[0][3]]
	msg := sprintf("%s read the %s of pid %d (%s) in %s", [attack.who(e), what, target, e.file_open.path, lib.workload(e)])
}
