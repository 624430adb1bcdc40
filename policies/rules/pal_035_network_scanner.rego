# METADATA
# title: Network scanner run in a container
# description: >-
#   A port or host scanner executed in a container (nmap, masscan, zmap, rustscan, naabu, unicornscan, hping3,
#   zgrab), or netcat in scan mode (nc, ncat or netcat with -z, alone or combined like -zv): mapping the
#   cluster network from a foothold. Matched by the executed file's name and its comm, so a copied or symlinked
#   binary under the same name matches; a renamed scanner or a scan written as a script does not (many connects to
#   many ports is a rate signal, not a single event's).
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1046/
# scope: package
# custom:
#   id: PAL-035
#   severity: medium
#   mitre: T1046
#   actions: []
#   event_kinds: [exec]
package palisade.rules.pal_035

import data.palisade.lib
import data.palisade.lib.attack

scanners := {"nmap", "masscan", "zmap", "rustscan", "naabu", "unicornscan", "hping3", "zgrab", "zgrab2"}

netcats := {"nc", "ncat", "netcat"}

alerts contains {"index": i, "rule_id": "PAL-035", "message": msg} if {
	some i, e in input.events
	e.kind == "exec"
	attack.in_container(e)
	some tool in {attack.exec_name(e), e.process.comm}
	scanning(tool, e.exec.argv)
	msg := sprintf("%s (pid %d, uid %d) scans the network: %s in %s", [tool, e.process.pid, e.process.uid, concat(" ", e.exec.argv), lib.workload(e)])
}

scanning(tool, _) if tool in scanners

scanning(tool, argv) if {
	tool in netcats
	some a in array.slice(argv, 1, count(argv))
	regex.match(`^-[a-zA-Z0-9]*z[a-zA-Z0-9]*$`, a)
}
