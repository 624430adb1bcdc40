# METADATA
# title: Raw or packet socket in a container
# description: >-
#   socket(2) in a container of a packet socket (AF_PACKET: every frame on an interface, the tool of a sniffer
#   or an ARP spoofer) or of a raw socket of any family but netlink (SOCK_RAW, which netlink sockets always are: hand-made IP packets, spoofed sources,
#   scanners), and an AF_NETLINK socket of protocol 12 (NETLINK_NETFILTER) opened by a non-root user, the first
#   step of several nf_tables privilege escalations. Failed attempts count (no CAP_NET_RAW still shows the
#   intent). Left alone: ping's raw ICMP socket (inet/inet6 raw, protocol ICMP/ICMPv6, comm ping*), which older
#   ping builds still use. Not caught: sniffing through a socket the process inherited or received, and
#   netfilter sockets of root processes (iptables-nft in an init container does that).
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1040/
# scope: package
# custom:
#   id: PAL-045
#   severity: high
#   mitre: T1040
#   actions: []
#   event_kinds: [net_socket]
package palisade.rules.pal_045

import data.palisade.lib
import data.palisade.lib.attack

alerts contains {"index": i, "rule_id": "PAL-045", "message": msg} if {
	some i, e in input.events
	e.kind == "net_socket"
	attack.in_container(e)
	s := e.net_socket
	s.syscall == "socket"
	what := kind(e, s)
	msg := sprintf("%s created %s socket (family %s, type %s, protocol %d, result %d) in %s", [
		attack.who(e), what, s.socket_family, s.socket_type, s.socket_protocol, s.result, lib.workload(e),
	])
}

kind(e, s) := "a packet" if {
	s.socket_family == "packet"
} else := "a raw" if {
	s.socket_type == "raw"
	s.socket_family != "netlink"
	not ping(e, s)
} else := "a netfilter netlink" if {
	s.socket_family == "netlink"
	s.socket_protocol == 12
	e.process.uid != 0
}

ping(e, s) if {
	s.socket_family in {"inet", "inet6"}
	s.socket_protocol in {1, 58}
	startswith(e.process.comm, "ping")
}
