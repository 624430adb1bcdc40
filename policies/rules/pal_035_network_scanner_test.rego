package palisade.rules.pal_035_test

import data.palisade.lib.attack_fixtures as f
import data.palisade.rules.pal_035

alerts_for(events) := got if {
	got := pal_035.alerts with input as {"events": events}
}

test_scanners_fire if {
	alerts_for([
		f.exec("/usr/bin/nmap", ["nmap", "-sT", "10.0.0.0/24"]),
		f.exec("/bin/nc", ["nc", "-zv", "10.0.0.5", "1-1024"]),
		f.exec("/tmp/masscan", ["masscan", "-p1-65535", "10.0.0.0/8"]),
	]) == {
		{"index": 0, "rule_id": "PAL-035", "message": "nmap (pid 4242, uid 1000) scans the network: nmap -sT 10.0.0.0/24 in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 1, "rule_id": "PAL-035", "message": "nc (pid 4242, uid 1000) scans the network: nc -zv 10.0.0.5 1-1024 in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 2, "rule_id": "PAL-035", "message": "masscan (pid 4242, uid 1000) scans the network: masscan -p1-65535 10.0.0.0/8 in pod shop/web-7d9f8c6b5-x2x4q"},
	}
}

test_near_misses_do_not_fire if {
	count(alerts_for([
		f.exec("/bin/nc", ["nc", "-l", "8080"]),
		f.exec("/bin/nc", ["nc", "10.0.0.5", "80"]),
		f.exec("/bin/gzip", ["gzip", "-z"]),
		f.exec("/usr/bin/nmap-helper", ["nmap-helper"]),
		f.host(f.exec("/usr/bin/nmap", ["nmap", "10.0.0.1"])),
	])) == 0
}
