package palisade.rules.pal_018_test

import data.palisade.lib.attack_fixtures as f
import data.palisade.rules.pal_018

alerts_for(events) := got if {
	got := pal_018.alerts with input as {"events": events}
}

msg(how) := sprintf("sh (pid 4242, uid 1000) %s in pod shop/web-7d9f8c6b5-x2x4q", [how])

test_authorized_keys_writes_fire if {
	alerts_for([
		f.open("/root/.ssh/authorized_keys", f.o_append),
		f.rename("/tmp/k", "/home/app/.ssh/authorized_keys2"),
		f.chmod("/srv/keys/authorized_keys", 384),
	]) == {
		{"index": 0, "rule_id": "PAL-018", "message": msg("opened /root/.ssh/authorized_keys for writing")},
		{"index": 1, "rule_id": "PAL-018", "message": msg("renamed /tmp/k to /home/app/.ssh/authorized_keys2")},
		{"index": 2, "rule_id": "PAL-018", "message": msg("changed the mode of /srv/keys/authorized_keys")},
	}
}

test_near_misses_do_not_fire if {
	count(alerts_for([
		f.open_as("/root/.ssh/authorized_keys", f.o_rdonly, {"comm": "sshd"}),
		f.open("/root/.ssh/authorized_keys.bak", f.o_write),
		f.open("/root/.ssh/known_hosts", f.o_write),
		f.rename("/root/.ssh/authorized_keys", "/tmp/k"),
		f.unlink("/root/.ssh/authorized_keys"),
		f.host(f.open("/root/.ssh/authorized_keys", f.o_append)),
	])) == 0
}
