package palisade.rules.pal_001_test

import data.palisade.lib.fixtures
import data.palisade.rules.pal_001

alerts_for(events) := got if {
	got := pal_001.alerts with input as {"events": events}
}

test_shadow_open_in_a_pod_fires if {
	alerts_for([fixtures.file_open("/etc/shadow")]) == {{
		"index": 0,
		"rule_id": "PAL-001",
		"message": "cat (pid 4242, uid 1000) opened /etc/shadow in pod shop/web-7d9f8c6b5-x2x4q",
	}}
}

test_every_credential_file_fires_at_its_index if {
	alerts_for([
		fixtures.file_open("/etc/gshadow"),
		fixtures.file_open("/etc/hostname"),
		fixtures.file_open("/etc/sudoers"),
		fixtures.file_open("/etc/sudoers.d/90-cloud-init-users"),
	]) == {
		{"index": 0, "rule_id": "PAL-001", "message": "cat (pid 4242, uid 1000) opened /etc/gshadow in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 2, "rule_id": "PAL-001", "message": "cat (pid 4242, uid 1000) opened /etc/sudoers in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 3, "rule_id": "PAL-001", "message": "cat (pid 4242, uid 1000) opened /etc/sudoers.d/90-cloud-init-users in pod shop/web-7d9f8c6b5-x2x4q"},
	}
}

# EACCES: the attempt is what matters.
test_failed_open_fires if {
	ev := fixtures.file_open("/etc/shadow")
	denied := object.union(ev, {"file_open": object.union(ev.file_open, {"result": -13})})
	count(alerts_for([denied])) == 1
}

test_container_without_a_known_pod_fires if {
	alerts_for([fixtures.unenriched(fixtures.file_open("/etc/shadow"))]) == {{
		"index": 0,
		"rule_id": "PAL-001",
		"message": sprintf("cat (pid 4242, uid 1000) opened /etc/shadow in container %s", [fixtures.container.id]),
	}}
}

test_host_process_does_not_fire if {
	count(alerts_for([fixtures.host(fixtures.file_open("/etc/shadow"))])) == 0
}

test_near_miss_paths_do_not_fire if {
	count(alerts_for([
		fixtures.file_open("/etc/hostname"),
		fixtures.file_open("/etc/shadow.bak"),
		fixtures.file_open("/etc/shadowsocks"),
		fixtures.file_open("/etc/shadowsocks/config.json"),
		fixtures.file_open("/etc/sudoers.bak"),
		fixtures.file_open("/etc/sudoers.d"),
		fixtures.file_open("/etc/sudoers.d/"),
		fixtures.file_open("/tmp/etc/shadow"),
		fixtures.file_open("/etc/passwd"),
	])) == 0
}

test_other_event_kinds_do_not_fire if {
	count(alerts_for([fixtures.exec("/etc/shadow", ["/etc/shadow"], {})])) == 0
}
