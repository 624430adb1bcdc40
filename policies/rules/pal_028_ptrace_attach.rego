# METADATA
# title: ptrace attach or memory write in a container
# description: >-
#   ptrace in a container with PTRACE_ATTACH or PTRACE_SEIZE (taking control of another process), or
#   PTRACE_POKETEXT, POKEDATA, POKEUSER, SETREGS or SETREGSET (writing its code, data or registers): process
#   injection, credential theft from memory, and the ptrace-based escapes. Attempts count (Yama or a missing
#   CAP_SYS_PTRACE fails them, and the attempt is the signal). PTRACE_TRACEME (a child asking to be traced, as gdb
#   and strace start programs) and the read-only requests (PEEK*, GETREGS) do not fire on their own. Deliberately
#   not excluded: debuggers (gdb -p, strace -p) in a production container; exempt the workload.
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1055/008/
# scope: package
# custom:
#   id: PAL-028
#   severity: high
#   mitre: T1055.008
#   actions: []
#   event_kinds: [ptrace]
package palisade.rules.pal_028

import data.palisade.lib
import data.palisade.lib.attack

# request numbers (linux/ptrace.h): a name the collector did not know still matches by number.
requests := {
	16: "PTRACE_ATTACH", 16902: "PTRACE_SEIZE", 4: "PTRACE_POKETEXT", 5: "PTRACE_POKEDATA", 6: "PTRACE_POKEUSER",
	13: "PTRACE_SETREGS", 16901: "PTRACE_SETREGSET",
}

alerts contains {"index": i, "rule_id": "PAL-028", "message": msg} if {
	some i, e in input.events
	e.kind == "ptrace"
	attack.in_container(e)
	name := requests[e.ptrace.request]
	msg := sprintf("%s called ptrace %s on pid %d (result %d) in %s", [
		attack.who(e), name, e.ptrace.target_pid, e.ptrace.result, lib.workload(e),
	])
}
