package palisade.rules.pal_037_test

import data.palisade.lib.attack_fixtures as f
import data.palisade.rules.pal_037

alerts_for(events) := got if {
	got := pal_037.alerts with input as {"events": events}
}

test_metadata_connects_and_lookups_fire if {
	alerts_for([
		f.connect("169.254.169.254", 80),
		f.connect6("fd00:ec2::254", 80),
		f.dns("metadata.google.internal"),
		f.dns("Metadata.Google.Internal."),
	]) == {
		{"index": 0, "rule_id": "PAL-037", "message": "curl (pid 4242, uid 1000) connected to the cloud metadata service 169.254.169.254 port 80 in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 1, "rule_id": "PAL-037", "message": "curl (pid 4242, uid 1000) connected to the cloud metadata service fd00:ec2::254 port 80 in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 2, "rule_id": "PAL-037", "message": "curl (pid 4242, uid 1000) looked up the cloud metadata service metadata.google.internal in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 3, "rule_id": "PAL-037", "message": "curl (pid 4242, uid 1000) looked up the cloud metadata service metadata.google.internal in pod shop/web-7d9f8c6b5-x2x4q"},
	}
}

test_near_misses_do_not_fire if {
	count(alerts_for([
		f.connect("169.254.169.253", 53),
		f.connect("10.96.0.1", 443),
		f.dns("metadata.example.com"),
		f.dns("google.internal"),
		f.host(f.connect("169.254.169.254", 80)),
		f.host(f.dns("metadata.google.internal")),
	])) == 0
}
