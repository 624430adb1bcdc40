package palisade.rules.pal_038_test

import data.palisade.lib.attack_fixtures as f
import data.palisade.rules.pal_038

alerts_for(events) := got if {
	got := pal_038.alerts with input as {"events": events}
}

test_miners_fire if {
	alerts_for([
		f.exec("/tmp/.x/xmrig", ["xmrig", "-c", "config.json"]),
		f.exec("/tmp/kworkerd", ["kworkerd", "-o", "stratum+tcp://pool.example:3333", "-u", "wallet"]),
		f.exec("/dev/shm/sys", ["sys", "--donate-level", "1"]),
	]) == {
		{"index": 0, "rule_id": "PAL-038", "message": "/tmp/.x/xmrig (pid 4242, uid 1000) is a cryptocurrency miner (known miner): xmrig -c config.json in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 1, "rule_id": "PAL-038", "message": "/tmp/kworkerd (pid 4242, uid 1000) is a cryptocurrency miner (pool arguments): kworkerd -o stratum+tcp://pool.example:3333 -u wallet in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 2, "rule_id": "PAL-038", "message": "/dev/shm/sys (pid 4242, uid 1000) is a cryptocurrency miner (pool arguments): sys --donate-level 1 in pod shop/web-7d9f8c6b5-x2x4q"},
	}
}

test_near_misses_do_not_fire if {
	count(alerts_for([
		f.exec("/usr/bin/miner-exporter", ["miner-exporter", "--port", "9100"]),
		f.exec("/usr/bin/curl", ["curl", "https://example.com/stratum"]),
		f.exec("/usr/bin/redis-server", ["redis-server", "--port", "3333"]),
		f.host(f.exec("/usr/bin/xmrig", ["xmrig"])),
	])) == 0
}
