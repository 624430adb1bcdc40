package palisade.rules.pal_045_test

import data.palisade.lib.attack_fixtures as f
import data.palisade.rules.pal_045

alerts_for(events) := got if {
	got := pal_045.alerts with input as {"events": events}
}

sock(fam, typ, proto, result, proc) := f.kind_as("net_socket", {
	"syscall": "socket", "family": 0, "addr": "", "port": 0, "protocol": "", "backlog": 0, "result": result,
	"socket_family": fam, "socket_type": typ, "socket_type_flags": 524288, "socket_protocol": proto,
}, proc)

test_packet_raw_and_netfilter_sockets_fire if {
	alerts_for([
		sock("packet", "raw", 768, 3, {}),
		sock("inet", "raw", 6, -1, {}),
		sock("packet", "dgram", 768, 3, {}),
		sock("netlink", "raw", 12, 4, {"comm": "exploit"}),
	]) == {
		{"index": 0, "rule_id": "PAL-045", "message": "python3 (pid 4242, uid 1000) created a packet socket (family packet, type raw, protocol 768, result 3) in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 1, "rule_id": "PAL-045", "message": "python3 (pid 4242, uid 1000) created a raw socket (family inet, type raw, protocol 6, result -1) in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 2, "rule_id": "PAL-045", "message": "python3 (pid 4242, uid 1000) created a packet socket (family packet, type dgram, protocol 768, result 3) in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 3, "rule_id": "PAL-045", "message": "exploit (pid 4242, uid 1000) created a netfilter netlink socket (family netlink, type raw, protocol 12, result 4) in pod shop/web-7d9f8c6b5-x2x4q"},
	}
}

test_near_misses_do_not_fire if {
	count(alerts_for([
		sock("netlink", "raw", 0, 3, {}),
		sock("netlink", "raw", 12, 3, {"uid": 0}),
		sock("inet", "raw", 1, 3, {"comm": "ping"}),
		sock("inet6", "raw", 58, 3, {"comm": "ping6"}),
		sock("inet", "dgram", 1, 3, {"comm": "ping"}),
		sock("inet", "seqpacket", 132, 3, {}),
		object.union(sock("packet", "raw", 768, 3, {}), {"net_socket": {"syscall": "bind"}}),
		f.host(sock("packet", "raw", 768, 3, {})),
	])) == 0
}
