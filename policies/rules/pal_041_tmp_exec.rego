# METADATA
# title: Binary executed from a temp directory or tmpfs in a container
# description: >-
#   An exec in a container whose executable lies below /tmp, /var/tmp or /dev/shm (exec.exe_in_tmp_dir) or on a
#   tmpfs or ramfs (exec.exe_on_tmpfs), as the kernel found the file at exec: the usual shape of a downloaded
#   tool or implant dropped where anyone may write and nothing survives a restart. Left alone: fileless
#   execs (from_memfd; PAL-032 reports them) and the container runtime's own processes (runc, crun). Scripts run
#   as `sh /tmp/x.sh` are the shell's exec, not the script's, and do not fire; `/tmp/x.sh` run directly does.
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1105/
# scope: package
# custom:
#   id: PAL-041
#   severity: medium
#   mitre: T1105
#   actions: []
#   event_kinds: [exec]
package palisade.rules.pal_041

import data.palisade.lib
import data.palisade.lib.attack
import data.palisade.lib.macros

alerts contains {"index": i, "rule_id": "PAL-041", "message": msg} if {
	some i, e in input.events
	e.kind == "exec"
	attack.in_container(e)
	where := origin(e.exec)
	not object.get(e.exec, "from_memfd", false)
	not attack.runtime_process(e.process.comm)
	msg := sprintf("%s (pid %d, uid %d) executed from %s in %s", [
		e.exec.filename, e.process.pid, e.process.uid, where, lib.workload(e),
	])
}

# The dynamic loader run as a program maps the binary itself: `ld-linux-x86-64.so.2 /tmp/x` runs /tmp/x with no exec
# of it. The operand, as passed (relative to the exec's cwd), is what ran.
alerts contains {"index": i, "rule_id": "PAL-041", "message": msg} if {
	some i, e in input.events
	e.kind == "exec"
	attack.in_container(e)
	target := macros.loader_operand(e)
	some d in tmp_dirs
	attack.below(target, d)
	not attack.runtime_process(e.process.comm)
	msg := sprintf("%s (pid %d, uid %d) ran %s from a temp directory through the loader in %s", [
		e.exec.filename, e.process.pid, e.process.uid, target, lib.workload(e),
	])
}

tmp_dirs := {"/tmp", "/var/tmp", "/dev/shm", "/run/shm"}

origin(x) := "a temp directory" if {
	object.get(x, "exe_in_tmp_dir", false) == true
} else := sprintf("a %s filesystem", [object.get(x, "exe_fs_type", "tmpfs")]) if {
	object.get(x, "exe_on_tmpfs", false) == true
}
