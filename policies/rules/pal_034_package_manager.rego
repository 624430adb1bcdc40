# METADATA
# title: System package manager run in a container
# description: >-
#   apt, apt-get, aptitude, dpkg, apk, yum, dnf, microdnf, tdnf, rpm, zypper or pacman executed in a running
#   container: images are built once, so installing (or even querying) packages at run time is drift, and is how
#   an intruder brings in tools (nmap, gcc, socat). One alert per run: a package manager started by another (apt
#   running dpkg) is left alone. Language package managers (npm, pip, gem, cargo) are not in the list: installing
#   into an application prefix is what builds and tests in the benign corpus do.
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1105/
# scope: package
# custom:
#   id: PAL-034
#   severity: low
#   mitre: T1105
#   actions: []
#   event_kinds: [exec]
package palisade.rules.pal_034

import data.palisade.lib
import data.palisade.lib.attack

alerts contains {"index": i, "rule_id": "PAL-034", "message": msg} if {
	some i, e in input.events
	e.kind == "exec"
	attack.in_container(e)
	tool := attack.exec_name(e)
	tool in attack.package_managers
	not started_by_a_package_manager(e)
	msg := sprintf("%s (pid %d, uid %d) ran: %s in %s", [tool, e.process.pid, e.process.uid, concat(" ", e.exec.argv), lib.workload(e)])
}

started_by_a_package_manager(e) if {
	some a in e.process.ancestors
	a.comm in attack.package_managers
}

started_by_a_package_manager(e) if e.process.parent_comm in attack.package_managers
