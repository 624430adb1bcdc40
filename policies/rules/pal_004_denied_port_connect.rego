# METADATA
# title: Outbound connection to a denied port from a container
# description: >-
#   A process in a container connected (or tried to: the connect result is not checked) to a port on the deny list,
#   data.palisade.config.denied_ports (defaults in policies/data.json: Metasploit, IRC, mining-pool and common
#   backdoor ports), or sent a UDP datagram there with sendto/sendmsg and no connect. Loopback destinations are not
#   outbound and do not fire.
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1571/
# scope: package
# custom:
#   id: PAL-004
#   severity: medium
#   mitre: T1571
#   actions: [deny_egress]
#   event_kinds: [net_connect, net_socket]
package palisade.rules.pal_004

import data.palisade.lib
import data.palisade.lib.macros

denied_ports := {p | some p in data.palisade.config.denied_ports}

alerts contains {"index": i, "rule_id": "PAL-004", "message": msg} if {
	some i, e in input.events
	e.kind == "net_connect"
	macros.in_container(e)
	e.net_connect.dport in denied_ports
	not macros.loopback(e.net_connect.daddr)
	msg := sprintf("%s (pid %d) connected to %s port %d, a denied port, from %s", [
		e.process.comm, e.process.pid, e.net_connect.daddr, e.net_connect.dport, lib.workload(e),
	])
}

# A UDP datagram sent with an address and no connect reaches the port as surely (macros.destination).
alerts contains {"index": i, "rule_id": "PAL-004", "message": msg} if {
	some i, e in input.events
	e.kind == "net_socket"
	d := macros.destination(e)
	macros.in_container(e)
	d.port in denied_ports
	not macros.loopback(d.addr)
	msg := sprintf("%s (pid %d) sent a datagram (%s) to %s port %d, a denied port, from %s", [
		e.process.comm, e.process.pid, d.via, d.addr, d.port, lib.workload(e),
	])
}
