# METADATA
# title: Drifted binary executed in a container
# description: >-
#   An exec in a container of a file that is not the image's: on the overlay's upper layer
#   (exec.exe_overlay_layer "upper": written, copied up or chmod'ed in the container) or whose inode changed
#   after the container's oldest live process started (exec.exe_modified_after_container_start), as Falco's
#   container drift rules. A downloaded, dropped or replaced binary run after start is drift from an immutable
#   image. Left alone: fileless execs (PAL-032), the runtime's own processes (runc, crun), and execs under a
#   system package manager (PAL-034 reports the install; a postinst running what it just unpacked is its job).
#   Expect this to fire on workloads that build and run code at run time (CI runners, JIT-compiled helpers): tune
#   them with an exception. Not caught: an interpreter running a drifted script (the exec is the interpreter's).
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1105/
# scope: package
# custom:
#   id: PAL-048
#   severity: medium
#   mitre: T1105
#   actions: []
#   event_kinds: [exec]
package palisade.rules.pal_048

import data.palisade.lib
import data.palisade.lib.attack

alerts contains {"index": i, "rule_id": "PAL-048", "message": msg} if {
	some i, e in input.events
	e.kind == "exec"
	attack.in_container(e)
	why := drift(e.exec)
	not object.get(e.exec, "from_memfd", false)
	not attack.runtime_process(e.process.comm)
	not attack.package_manager_lineage(e)
	msg := sprintf("%s (pid %d, uid %d) executed a binary %s in %s", [
		e.exec.filename, e.process.pid, e.process.uid, why, lib.workload(e),
	])
}

drift(x) := "changed after the container started" if {
	object.get(x, "exe_modified_after_container_start", false) == true
} else := "from the overlay's upper layer" if {
	object.get(x, "exe_overlay_layer", "") == "upper"
}
