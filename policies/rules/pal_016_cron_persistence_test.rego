package palisade.rules.pal_016_test

import data.palisade.lib.attack_fixtures as f
import data.palisade.rules.pal_016

alerts_for(events) := got if {
	got := pal_016.alerts with input as {"events": events}
}

msg(how) := sprintf("sh (pid 4242, uid 1000) %s in pod shop/web-7d9f8c6b5-x2x4q", [how])

test_cron_writes_fire if {
	alerts_for([
		f.open("/etc/cron.d/update", f.o_write),
		f.rename("/etc/crontab.new", "/etc/crontab"),
		f.open("/var/spool/cron/crontabs/root", f.o_write),
		f.chmod("/etc/cron.hourly/job", 493),
	]) == {
		{"index": 0, "rule_id": "PAL-016", "message": msg("opened /etc/cron.d/update for writing")},
		{"index": 1, "rule_id": "PAL-016", "message": msg("renamed /etc/crontab.new to /etc/crontab")},
		{"index": 2, "rule_id": "PAL-016", "message": msg("opened /var/spool/cron/crontabs/root for writing")},
		{"index": 3, "rule_id": "PAL-016", "message": msg("changed the mode of /etc/cron.hourly/job")},
	}
}

test_near_misses_do_not_fire if {
	count(alerts_for([
		f.open("/etc/crontab", f.o_rdonly),
		f.open("/etc/cron.d/job", f.o_rdonly),
		f.open("/etc/cron.deny.d", f.o_write),
		f.open("/etc/cron.d", f.o_write),
		f.open("/app/etc/cron.d/job", f.o_write),
		f.rename("/etc/crontab", "/tmp/crontab"),
		f.open_as("/etc/cron.daily/apt", f.o_write, {"comm": "dpkg"}),
		f.host(f.open("/etc/cron.d/job", f.o_write)),
	])) == 0
}
