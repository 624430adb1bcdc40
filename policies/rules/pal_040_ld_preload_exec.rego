# METADATA
# title: Dynamic-linker hijack variable at exec in a container
# description: >-
#   An exec in a container whose environment sets LD_PRELOAD or LD_AUDIT to something (a library the dynamic
#   linker loads into the new program before its own code: a userland rootkit, a credential hook), or whose
#   LD_LIBRARY_PATH names a directory below /tmp, /var/tmp, /dev/shm or /run/shm, or a relative one (searched
#   before the system's). Read from the kernel's bounded scan of the new environment (exec.env: only the LD_*
#   variables are kept). An environment too large for that scan (env_scan_incomplete: more than 512 strings or
#   32 KiB) fires too: that is how a padded environment would hide LD_PRELOAD past the scan, and no ordinary
#   container start carries one. Not caught: a preload through /etc/ld.so.preload (PAL-020), a world-writable
#   directory in LD_LIBRARY_PATH outside the temp dirs (the kernel does not report modes), an empty
#   LD_PRELOAD, and a static binary that ignores the variables (they still fire: the intent is there).
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1574/006/
# scope: package
# custom:
#   id: PAL-040
#   severity: high
#   mitre: T1574.006
#   actions: []
#   event_kinds: [exec]
package palisade.rules.pal_040

import data.palisade.lib
import data.palisade.lib.attack
import data.palisade.lib.lists

alerts contains {"index": i, "rule_id": "PAL-040", "message": msg} if {
	some i, e in input.events
	e.kind == "exec"
	attack.in_container(e)
	found := findings(e)
	count(found) > 0
	msg := sprintf("%s (pid %d, uid %d) executed with %s in %s", [
		e.exec.filename, e.process.pid, e.process.uid, concat(", ", sort(found)), lib.workload(e),
	])
}

findings(e) := {f |
	env := object.get(e.exec, "env", {})
	some name in ["LD_PRELOAD", "LD_AUDIT"]
	v := env[name]
	v != ""
	f := sprintf("%s=%s", [name, v])
} | {f |
	v := object.get(e.exec, "env", {}).LD_LIBRARY_PATH
	some d in split(v, ":")
	risky_dir(d)
	f := sprintf("LD_LIBRARY_PATH=%s", [v])
} | {f |
	object.get(e.exec, "env_scan_incomplete", false) == true
	f := sprintf("an environment too large to scan (%d strings, %d bytes)", [
		object.get(e.exec, "env_count", 0), object.get(e.exec, "env_bytes", 0),
	])
}

risky_dir(d) if {
	some t in lists.temp_dirs
	attack.below(concat("", [d, "/"]), t)
}

risky_dir(d) if {
	d != ""
	not startswith(d, "/")
}
