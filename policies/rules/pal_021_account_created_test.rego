package palisade.rules.pal_021_test

import data.palisade.lib.attack_fixtures as f
import data.palisade.rules.pal_021

alerts_for(events) := got if {
	got := pal_021.alerts with input as {"events": events}
}

msg(how) := sprintf("sh (pid 4242, uid 1000) %s in pod shop/web-7d9f8c6b5-x2x4q", [how])

test_account_file_writes_and_tools_fire if {
	alerts_for([
		f.open("/etc/passwd", f.o_append),
		f.rename("/etc/shadow+", "/etc/shadow"),
		f.open("/etc/.pwd.lock", 577),
		f.exec_with("/usr/sbin/useradd", ["useradd", "-o", "-u", "0", "toor"], {"uid": 0}),
		f.exec("/usr/sbin/chpasswd", ["chpasswd"]),
	]) == {
		{"index": 0, "rule_id": "PAL-021", "message": msg("opened /etc/passwd for writing")},
		{"index": 1, "rule_id": "PAL-021", "message": msg("renamed /etc/shadow+ to /etc/shadow")},
		{"index": 2, "rule_id": "PAL-021", "message": msg("opened /etc/.pwd.lock for writing")},
		{"index": 3, "rule_id": "PAL-021", "message": "useradd (pid 4242, uid 0) ran useradd -o -u 0 toor in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 4, "rule_id": "PAL-021", "message": "chpasswd (pid 4242, uid 1000) ran chpasswd in pod shop/web-7d9f8c6b5-x2x4q"},
	}
}

test_near_misses_do_not_fire if {
	pkg := [{"pid": 1, "comm": "dpkg", "binary": "/usr/bin/dpkg", "exec_id": ""}]
	count(alerts_for([
		f.open("/etc/passwd", 524288),
		f.open("/etc/group", f.o_rdonly),
		f.open("/etc/passwdqc.conf", f.o_write),
		f.open("/etc/security/group.conf", f.o_write),
		f.open("/tmp/etc/passwd", f.o_write),
		f.exec("/usr/bin/id", ["id", "-u"]),
		f.exec_with("/usr/sbin/useradd", ["useradd", "-r", "messagebus"], {"ancestors": pkg}),
		f.open_as("/etc/group", f.o_write, {"comm": "groupadd", "ancestors": pkg}),
		f.host(f.open("/etc/passwd", f.o_append)),
	])) == 0
}
