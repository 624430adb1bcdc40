package palisade.rules.pal_039_test

import data.palisade.lib.attack_fixtures as f
import data.palisade.rules.pal_039

alerts_for(events) := got if {
	got := pal_039.alerts with input as {"events": events}
}

test_stratum_ports_and_pool_names_fire if {
	alerts_for([
		f.connect("198.51.100.7", 14444),
		f.dns("xmr-eu1.nanopool.org"),
		f.dns("pool.supportxmr.com."),
		f.dns("xmr.example.net"),
		f.dns("pool.monero.example"),
		f.connect6("2001:db8::7", 3333),
	]) == {
		{"index": 0, "rule_id": "PAL-039", "message": "curl (pid 4242, uid 1000) connected to 198.51.100.7 port 14444, a mining-pool (stratum) port, in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 1, "rule_id": "PAL-039", "message": "curl (pid 4242, uid 1000) looked up the mining pool xmr-eu1.nanopool.org in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 2, "rule_id": "PAL-039", "message": "curl (pid 4242, uid 1000) looked up the mining pool pool.supportxmr.com in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 3, "rule_id": "PAL-039", "message": "curl (pid 4242, uid 1000) looked up the mining pool xmr.example.net in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 4, "rule_id": "PAL-039", "message": "curl (pid 4242, uid 1000) looked up the mining pool pool.monero.example in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 5, "rule_id": "PAL-039", "message": "curl (pid 4242, uid 1000) connected to 2001:db8::7 port 3333, a mining-pool (stratum) port, in pod shop/web-7d9f8c6b5-x2x4q"},
	}
}

test_near_misses_do_not_fire if {
	count(alerts_for([
		f.connect("127.0.0.1", 3333),
		f.connect6("::1", 5555),
		f.connect("198.51.100.7", 4444),
		f.connect("198.51.100.7", 443),
		f.dns("pool.ntp.org"),
		f.dns("2.debian.pool.ntp.org"),
		f.dns("threadpool.example.com"),
		f.dns("notnanopool.org"),
		f.dns("example.com"),
		f.host(f.dns("xmr-eu1.nanopool.org")),
	])) == 0
}
