package palisade.rules.pal_019_test

import data.palisade.lib.attack_fixtures as f
import data.palisade.rules.pal_019

alerts_for(events) := got if {
	got := pal_019.alerts with input as {"events": events}
}

msg(how) := sprintf("sh (pid 4242, uid 1000) %s in pod shop/web-7d9f8c6b5-x2x4q", [how])

test_rc_writes_fire if {
	alerts_for([
		f.open("/root/.bashrc", f.o_append),
		f.open("/etc/profile.d/zz-update.sh", f.o_write),
		f.rename("/tmp/p", "/home/app/.profile"),
		f.open("/etc/bash.bashrc", f.o_rdwr),
	]) == {
		{"index": 0, "rule_id": "PAL-019", "message": msg("opened /root/.bashrc for writing")},
		{"index": 1, "rule_id": "PAL-019", "message": msg("opened /etc/profile.d/zz-update.sh for writing")},
		{"index": 2, "rule_id": "PAL-019", "message": msg("renamed /tmp/p to /home/app/.profile")},
		{"index": 3, "rule_id": "PAL-019", "message": msg("opened /etc/bash.bashrc for writing")},
	}
}

test_near_misses_do_not_fire if {
	count(alerts_for([
		f.open("/root/.bashrc", f.o_rdonly),
		f.open("/etc/profile", f.o_rdonly),
		f.open("/root/.bash_history", f.o_append),
		f.open("/root/.bashrc.swp", f.o_write),
		f.open("/etc/profile.d", f.o_write),
		f.open_as("/etc/profile.d/locale.sh", f.o_write, {"comm": "dpkg"}),
		f.host(f.open("/root/.bashrc", f.o_append)),
	])) == 0
}
