package palisade.rules.pal_004_test

import data.palisade.lib.fixtures
import data.palisade.rules.pal_004

alerts_for(events) := got if {
	got := pal_004.alerts with input as {"events": events}
}

test_connect_to_a_denied_port_fires if {
	alerts_for([fixtures.net_connect("203.0.113.7", 4444)]) == {{
		"index": 0,
		"rule_id": "PAL-004",
		"message": "curl (pid 4242) connected to 203.0.113.7 port 4444, a denied port, from pod shop/web-7d9f8c6b5-x2x4q",
	}}
}

test_every_default_port_fires_at_its_index if {
	events := [fixtures.net_connect("203.0.113.7", p) | some p in [4444, 1337, 31337, 6667, 3333, 5555]]
	{a.index | some a in alerts_for(events)} == {n | some n in numbers.range(0, 5)}
}

test_ipv6_destination_fires if {
	ev := fixtures.net_connect("2001:db8::7", 31337)
	v6 := object.union(ev, {"net_connect": object.union(ev.net_connect, {"family": "inet6"})})
	count(alerts_for([v6])) == 1
}

test_container_without_a_known_pod_fires if {
	count(alerts_for([fixtures.unenriched(fixtures.net_connect("203.0.113.7", 6667))])) == 1
}

test_host_process_does_not_fire if {
	count(alerts_for([fixtures.host(fixtures.net_connect("203.0.113.7", 4444))])) == 0
}

test_allowed_ports_do_not_fire if {
	count(alerts_for([
		fixtures.net_connect("203.0.113.7", 443),
		fixtures.net_connect("203.0.113.7", 80),
		fixtures.net_connect("203.0.113.7", 44444),
		fixtures.net_connect("203.0.113.7", 444),
	])) == 0
}

test_loopback_does_not_fire if {
	count(alerts_for([
		fixtures.net_connect("127.0.0.1", 4444),
		fixtures.net_connect("127.1.2.3", 1337),
		fixtures.net_connect("::1", 4444),
		fixtures.net_connect("::ffff:127.0.0.1", 4444),
	])) == 0
}

test_deny_list_is_data_driven if {
	events := [fixtures.net_connect("203.0.113.7", 4444), fixtures.net_connect("203.0.113.7", 8080)]
	got := pal_004.alerts with input as {"events": events} with data.palisade.config.denied_ports as [8080]
	{a.index | some a in got} == {1}
}

test_other_event_kinds_do_not_fire if {
	ev := fixtures.file_open("/etc/hosts")
	count(alerts_for([object.union(ev, {"net_connect": {"family": "inet", "daddr": "203.0.113.7", "dport": 4444, "result": 0}})])) == 0
}
