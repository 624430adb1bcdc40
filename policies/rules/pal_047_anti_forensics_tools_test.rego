package palisade.rules.pal_047_test

import data.palisade.lib.attack_fixtures as f
import data.palisade.rules.pal_047

alerts_for(events) := got if {
	got := pal_047.alerts with input as {"events": events}
}

test_anti_forensics_fire if {
	alerts_for([
		f.exec("/usr/bin/chattr", ["chattr", "-i", "/etc/passwd"]),
		f.exec("/usr/bin/chattr", ["chattr", "-ia", "/var/log/x"]),
		f.exec("/usr/bin/shred", ["shred", "-u", "/tmp/x"]),
		f.exec("/usr/bin/touch", ["touch", "-r", "/bin/ls", "/usr/bin/x"]),
		f.exec("/bin/touch", ["touch", "--date=2019-01-01", "/tmp/x"]),
		f.exec("/usr/bin/touch", ["touch", "-amt", "201901010000", "/tmp/x"]),
	]) == {
		{"index": 0, "rule_id": "PAL-047", "message": "/usr/bin/chattr (pid 4242, uid 1000) ran chattr -i /etc/passwd (immutable attribute removed) in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 1, "rule_id": "PAL-047", "message": "/usr/bin/chattr (pid 4242, uid 1000) ran chattr -ia /var/log/x (immutable attribute removed) in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 2, "rule_id": "PAL-047", "message": "/usr/bin/shred (pid 4242, uid 1000) ran shred -u /tmp/x (file wiped) in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 3, "rule_id": "PAL-047", "message": "/usr/bin/touch (pid 4242, uid 1000) ran touch -r /bin/ls /usr/bin/x (timestamp forged) in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 4, "rule_id": "PAL-047", "message": "/bin/touch (pid 4242, uid 1000) ran touch --date=2019-01-01 /tmp/x (timestamp forged) in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 5, "rule_id": "PAL-047", "message": "/usr/bin/touch (pid 4242, uid 1000) ran touch -amt 201901010000 /tmp/x (timestamp forged) in pod shop/web-7d9f8c6b5-x2x4q"},
	}
}

test_near_misses_do_not_fire if {
	count(alerts_for([
		f.exec("/usr/bin/chattr", ["chattr", "+i", "/etc/resolv.conf"]),
		f.exec("/usr/bin/chattr", ["chattr", "-R", "+a", "/var/log"]),
		f.exec("/usr/bin/lsattr", ["lsattr", "-i"]),
		f.exec("/usr/bin/touch", ["touch", "/tmp/ready"]),
		f.exec("/usr/bin/touch", ["touch", "-c", "-m", "/tmp/ready"]),
		f.exec("/usr/bin/rm", ["rm", "-f", "/tmp/x"]),
		f.host(f.exec("/usr/bin/shred", ["shred", "/tmp/x"])),
	])) == 0
}
