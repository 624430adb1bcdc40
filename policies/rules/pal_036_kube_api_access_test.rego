package palisade.rules.pal_036_test

import data.palisade.lib.attack_fixtures as f
import data.palisade.rules.pal_036

alerts_for(events) := got if {
	got := pal_036.alerts with input as {"events": events}
}

test_api_calls_fire if {
	alerts_for([
		f.exec("/usr/local/bin/kubectl", ["kubectl", "get", "secrets", "-A"]),
		f.exec("/usr/bin/curl", ["curl", "-sk", "https://kubernetes.default.svc/api/v1/namespaces"]),
		f.exec("/usr/bin/curl", ["curl", "--cacert", "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt", "https://10.96.0.1/version"]),
		f.exec("/usr/bin/curl", ["curl", "-k", "https://10.0.0.4:10250/pods"]),
		f.exec("/usr/bin/wget", ["wget", "-qO-", "https://10.96.0.1/apis/rbac.authorization.k8s.io/v1/clusterroles"]),
	]) == {
		{"index": 0, "rule_id": "PAL-036", "message": "kubectl (pid 4242, uid 1000) calls the Kubernetes API: kubectl get secrets -A in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 1, "rule_id": "PAL-036", "message": "curl (pid 4242, uid 1000) calls the Kubernetes API: curl -sk https://kubernetes.default.svc/api/v1/namespaces in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 2, "rule_id": "PAL-036", "message": "curl (pid 4242, uid 1000) calls the Kubernetes API: curl --cacert /var/run/secrets/kubernetes.io/serviceaccount/ca.crt https://10.96.0.1/version in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 3, "rule_id": "PAL-036", "message": "curl (pid 4242, uid 1000) calls the Kubernetes API: curl -k https://10.0.0.4:10250/pods in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 4, "rule_id": "PAL-036", "message": "wget (pid 4242, uid 1000) calls the Kubernetes API: wget -qO- https://10.96.0.1/apis/rbac.authorization.k8s.io/v1/clusterroles in pod shop/web-7d9f8c6b5-x2x4q"},
	}
}

test_near_misses_do_not_fire if {
	count(alerts_for([
		f.exec("/usr/bin/curl", ["curl", "-fsS", "http://127.0.0.1:8080/api/v1/health"]),
		f.exec("/usr/bin/curl", ["curl", "https://api.example.com/apis/v2/items"]),
		f.exec("/usr/bin/curl", ["curl", "http://127.0.0.1:64430/"]),
		f.exec("/bin/cat", ["cat", "/var/run/secrets/kubernetes.io/serviceaccount/namespace"]),
		f.host(f.exec("/usr/local/bin/kubectl", ["kubectl", "get", "pods"])),
	])) == 0
}
