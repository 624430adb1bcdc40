package palisade.rules.pal_017_test

import data.palisade.lib.attack_fixtures as f
import data.palisade.rules.pal_017

alerts_for(events) := got if {
	got := pal_017.alerts with input as {"events": events}
}

msg(how) := sprintf("sh (pid 4242, uid 1000) %s in pod shop/web-7d9f8c6b5-x2x4q", [how])

test_unit_writes_fire if {
	alerts_for([
		f.open("/etc/systemd/system/kworker.service", f.o_write),
		f.rename("/tmp/u", "/usr/lib/systemd/system/sshd.service"),
		f.open("/home/app/.config/systemd/user/agent.service", f.o_write),
		f.open("/etc/systemd/system/multi-user.target.wants/kworker.service", 64),
	]) == {
		{"index": 0, "rule_id": "PAL-017", "message": msg("opened /etc/systemd/system/kworker.service for writing")},
		{"index": 1, "rule_id": "PAL-017", "message": msg("renamed /tmp/u to /usr/lib/systemd/system/sshd.service")},
		{"index": 2, "rule_id": "PAL-017", "message": msg("opened /home/app/.config/systemd/user/agent.service for writing")},
		{"index": 3, "rule_id": "PAL-017", "message": msg("opened /etc/systemd/system/multi-user.target.wants/kworker.service for writing")},
	}
}

test_near_misses_do_not_fire if {
	count(alerts_for([
		f.open("/etc/systemd/system/kworker.service", f.o_rdonly),
		f.open("/etc/systemd/system.conf", f.o_write),
		f.open("/etc/systemd/systemx/a", f.o_write),
		f.open("/srv/lib/systemd/system/a.service", f.o_write),
		f.open_as("/lib/systemd/system/cron.service", f.o_write, {"comm": "dpkg"}),
		f.host(f.open("/etc/systemd/system/a.service", f.o_write)),
	])) == 0
}
