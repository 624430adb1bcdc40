package palisade.rules.pal_020_test

import data.palisade.lib.attack_fixtures as f
import data.palisade.rules.pal_020

alerts_for(events) := got if {
	got := pal_020.alerts with input as {"events": events}
}

msg(how) := sprintf("sh (pid 4242, uid 1000) %s in pod shop/web-7d9f8c6b5-x2x4q", [how])

test_preload_writes_fire if {
	alerts_for([
		f.open("/etc/ld.so.preload", f.o_write),
		f.rename("/tmp/p", "/etc/ld.so.preload"),
		f.open_as("/etc/ld.so.preload", f.o_write, {"comm": "dpkg"}),
	]) == {
		{"index": 0, "rule_id": "PAL-020", "message": msg("opened /etc/ld.so.preload for writing")},
		{"index": 1, "rule_id": "PAL-020", "message": msg("renamed /tmp/p to /etc/ld.so.preload")},
		{"index": 2, "rule_id": "PAL-020", "message": "dpkg (pid 4242, uid 1000) opened /etc/ld.so.preload for writing in pod shop/web-7d9f8c6b5-x2x4q"},
	}
}

test_near_misses_do_not_fire if {
	count(alerts_for([
		f.open("/etc/ld.so.preload", 524288),
		f.open("/etc/ld.so.cache", f.o_write),
		f.open("/tmp/etc/ld.so.preload", f.o_write),
		f.rename("/etc/ld.so.preload", "/tmp/p"),
		f.host(f.open("/etc/ld.so.preload", f.o_write)),
	])) == 0
}
