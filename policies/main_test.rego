package palisade.main_test

import data.palisade.lib.fixtures
import data.palisade.main

# One batch, every rule, with events that must not fire between them: the aggregator keeps each rule's index.
test_collects_every_rule_at_the_event_index if {
	events := [
		fixtures.file_open("/etc/hostname"),
		fixtures.file_open("/etc/shadow"),
		fixtures.exec("/bin/sh", ["sh", "-i"], {"comm": "sh", "parent_comm": "nginx"}),
		fixtures.host(fixtures.file_open("/etc/shadow")),
		fixtures.exec("/usr/bin/su", ["su"], {"comm": "su", "parent_comm": "bash", "uid": 1000, "euid": 0}),
		fixtures.net_connect("203.0.113.7", 443),
		fixtures.net_connect("203.0.113.7", 4444),
	]
	got := main.alerts with input as {"events": events}
	{[a.index, a.rule_id] | some a in got} == {[1, "PAL-001"], [2, "PAL-006"], [4, "PAL-003"], [6, "PAL-004"]}
}

# A shell spawned by a web server with a setuid-root result is two findings on one event.
test_one_event_can_raise_several_rules if {
	ev := fixtures.exec("/bin/bash", ["bash", "-p"], {"comm": "bash", "parent_comm": "nginx", "uid": 1000, "euid": 0})
	got := main.alerts with input as {"events": [ev]}
	{[a.index, a.rule_id] | some a in got} == {[0, "PAL-006"], [0, "PAL-003"]}
}

test_empty_batch_has_no_alerts if {
	count(main.alerts) == 0 with input as {"events": []}
}

# Tuning is keyed by the alert's own rule: an exception on PAL-003 leaves PAL-006 on the same event alone, and
# disabling PAL-006 leaves PAL-003 alone.
test_an_exception_on_one_rule_never_silences_another_on_the_same_event if {
	ev := fixtures.exec("/bin/bash", ["bash", "-p"], {"comm": "bash", "parent_comm": "nginx", "uid": 1000, "euid": 0})
	tuning := {"rules": {"PAL-003": {"exceptions": [{"name": "node-tools", "namespace": "shop"}]}}}
	got := main.alerts with input as {"events": [ev]} with data.palisade.tuning as tuning
	{[a.rule_id, object.get(a, "excepted_by", "")] | some a in got} == {["PAL-006", ""], ["PAL-003", "node-tools"]}

	off := main.alerts with input as {"events": [ev]} with data.palisade.tuning as {"rules": {"PAL-006": {"enabled": false}}}
	{a.rule_id | some a in off} == {"PAL-003"}
}

test_a_global_exception_reaches_only_the_rules_it_names if {
	ev := fixtures.exec("/bin/bash", ["bash", "-p"], {"comm": "bash", "parent_comm": "nginx", "uid": 1000, "euid": 0})
	tuning := {"exceptions": [{"name": "shop", "rules": ["PAL-006", "PAL-001"], "namespace": "shop"}]}
	got := main.alerts with input as {"events": [ev]} with data.palisade.tuning as tuning
	{[a.rule_id, object.get(a, "excepted_by", "")] | some a in got} == {["PAL-006", "shop"], ["PAL-003", ""]}
}

test_severity_override_is_added_to_that_rules_alerts_only if {
	ev := fixtures.exec("/bin/bash", ["bash", "-p"], {"comm": "bash", "parent_comm": "nginx", "uid": 1000, "euid": 0})
	got := main.alerts with input as {"events": [ev]} with data.palisade.tuning as {"rules": {"PAL-006": {"severity": "low"}}}
	{[a.rule_id, object.get(a, "severity", "")] | some a in got} == {["PAL-006", "low"], ["PAL-003", ""]}
}
