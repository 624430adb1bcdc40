package palisade.rules.pal_012_test

import data.palisade.lib.attack_fixtures as f
import data.palisade.rules.pal_012

alerts_for(events) := got if {
	got := pal_012.alerts with input as {"events": events}
}

token := "/run/secrets/kubernetes.io/serviceaccount/..2026_12_02_03_00_00.123456789/token"

by(comm, path) := f.open_as(path, f.o_rdonly, {"comm": comm, "binary": concat("/", ["/usr/bin", comm])})

test_cat_and_curl_fire if {
	alerts_for([
		by("cat", token),
		by("curl", "/var/run/secrets/kubernetes.io/serviceaccount/token"),
		by("sh", "/run/secrets/eks.amazonaws.com/serviceaccount/token"),
	]) == {
		{"index": 0, "rule_id": "PAL-012", "message": sprintf("cat (pid 4242, uid 1000) read the service-account token %s in pod shop/web-7d9f8c6b5-x2x4q", [token])},
		{"index": 1, "rule_id": "PAL-012", "message": "curl (pid 4242, uid 1000) read the service-account token /var/run/secrets/kubernetes.io/serviceaccount/token in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 2, "rule_id": "PAL-012", "message": "sh (pid 4242, uid 1000) read the service-account token /run/secrets/eks.amazonaws.com/serviceaccount/token in pod shop/web-7d9f8c6b5-x2x4q"},
	}
}

# The application's own client reads the token: the entrypoint lineage, even when started by `sh -c`.
test_the_application_client_does_not_fire if {
	count(alerts_for([
		f.open_as(token, f.o_rdonly, {"comm": "controller", "binary": "/app/controller", "parent_comm": "sh"}),
		by("java", token),
		by("python3", token),
	])) == 0
}

test_near_misses_do_not_fire if {
	count(alerts_for([
		by("cat", "/run/secrets/kubernetes.io/serviceaccount/ca.crt"),
		by("cat", "/run/secrets/kubernetes.io/serviceaccount/namespace"),
		by("cat", "/tmp/run/secrets/kubernetes.io/serviceaccount/token"),
		by("cat", "/app/token"),
		f.host(by("cat", token)),
	])) == 0
}
