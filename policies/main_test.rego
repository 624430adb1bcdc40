package palisade.main_test

import data.palisade.lib.fixtures
import data.palisade.main

# One batch, every rule, with events that must not fire between them: the aggregator keeps each rule's index.
test_collects_every_rule_at_the_event_index if {
	events := [
		fixtures.file_open("/etc/hostname"),
		fixtures.file_open("/etc/shadow"),
		fixtures.exec("/bin/sh", ["sh", "-i"], {"comm": "sh", "parent_comm": "python3"}),
		fixtures.host(fixtures.file_open("/etc/shadow")),
		fixtures.exec("/usr/bin/su", ["su"], {"comm": "su", "parent_comm": "bash", "uid": 1000, "euid": 0}),
		fixtures.net_connect("203.0.113.7", 443),
		fixtures.net_connect("203.0.113.7", 4444),
	]
	got := main.alerts with input as {"events": events}
	{[a.index, a.rule_id] | some a in got} == {[1, "PAL-001"], [2, "PAL-002"], [4, "PAL-003"], [6, "PAL-004"]}
}

# A shell spawned by an interpreter with a setuid-root result is two findings on one event.
test_one_event_can_raise_several_rules if {
	ev := fixtures.exec("/bin/bash", ["bash", "-p"], {"comm": "bash", "parent_comm": "node", "uid": 1000, "euid": 0})
	got := main.alerts with input as {"events": [ev]}
	{[a.index, a.rule_id] | some a in got} == {[0, "PAL-002"], [0, "PAL-003"]}
}

test_empty_batch_has_no_alerts if {
	count(main.alerts) == 0 with input as {"events": []}
}
