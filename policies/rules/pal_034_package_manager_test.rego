package palisade.rules.pal_034_test

import data.palisade.lib.attack_fixtures as f
import data.palisade.rules.pal_034

alerts_for(events) := got if {
	got := pal_034.alerts with input as {"events": events}
}

test_package_managers_fire if {
	alerts_for([
		f.exec_with("/usr/bin/apt-get", ["apt-get", "install", "-y", "nmap"], {"uid": 0}),
		f.exec("/sbin/apk", ["apk", "add", "socat"]),
		f.exec("/usr/bin/dpkg", ["dpkg", "-i", "/tmp/x.deb"]),
	]) == {
		{"index": 0, "rule_id": "PAL-034", "message": "apt-get (pid 4242, uid 0) ran: apt-get install -y nmap in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 1, "rule_id": "PAL-034", "message": "apk (pid 4242, uid 1000) ran: apk add socat in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 2, "rule_id": "PAL-034", "message": "dpkg (pid 4242, uid 1000) ran: dpkg -i /tmp/x.deb in pod shop/web-7d9f8c6b5-x2x4q"},
	}
}

test_near_misses_do_not_fire if {
	count(alerts_for([
		f.exec_with("/usr/bin/dpkg", ["dpkg", "--configure", "-a"], {"parent_comm": "apt-get"}),
		f.exec("/usr/bin/npm", ["npm", "install", "--prefix", "/tmp/p"]),
		f.exec("/usr/bin/pip", ["pip", "install", "requests"]),
		f.exec("/usr/bin/dpkg-query", ["dpkg-query", "-W"]),
		f.host(f.exec("/usr/bin/apt-get", ["apt-get", "update"])),
	])) == 0
}
