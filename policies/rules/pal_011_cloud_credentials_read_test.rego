package palisade.rules.pal_011_test

import data.palisade.lib.attack_fixtures as f
import data.palisade.rules.pal_011

alerts_for(events) := got if {
	got := pal_011.alerts with input as {"events": events}
}

cat(path) := f.open_as(path, f.o_rdonly, {"comm": "cat", "binary": "/usr/bin/cat"})

test_each_credential_file_fires if {
	alerts_for([
		cat("/root/.aws/credentials"),
		cat("/home/app/.config/gcloud/application_default_credentials.json"),
		cat("/home/app/.azure/msal_token_cache.json"),
		cat("/root/.kube/config"),
		cat("/home/app/.docker/config.json"),
		cat("/home/app/.aws/sso/cache/3f1a.json"),
	]) == {
		{"index": 0, "rule_id": "PAL-011", "message": "cat (pid 4242, uid 1000) read AWS credentials /root/.aws/credentials in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 1, "rule_id": "PAL-011", "message": "cat (pid 4242, uid 1000) read gcloud credentials /home/app/.config/gcloud/application_default_credentials.json in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 2, "rule_id": "PAL-011", "message": "cat (pid 4242, uid 1000) read Azure CLI tokens /home/app/.azure/msal_token_cache.json in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 3, "rule_id": "PAL-011", "message": "cat (pid 4242, uid 1000) read kubeconfig /root/.kube/config in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 4, "rule_id": "PAL-011", "message": "cat (pid 4242, uid 1000) read Docker registry credentials /home/app/.docker/config.json in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 5, "rule_id": "PAL-011", "message": "cat (pid 4242, uid 1000) read AWS credentials /home/app/.aws/sso/cache/3f1a.json in pod shop/web-7d9f8c6b5-x2x4q"},
	}
}

test_near_misses_do_not_fire if {
	count(alerts_for([
		cat("/root/.aws/config"),
		cat("/root/.aws/credentials.bak"),
		cat("/root/.kube/cache/discovery/x.json"),
		cat("/root/.config/gcloud/configurations/config_default"),
		cat("/srv/kube/config"),
		f.open_as("/root/.kube/config", f.o_rdonly, {"comm": "kubectl", "binary": "/usr/local/bin/kubectl"}),
		f.open_as("/root/.aws/credentials", f.o_rdonly, {"comm": "aws", "binary": "/usr/local/bin/aws"}),
		f.host(cat("/root/.aws/credentials")),
	])) == 0
}

# The rule tests contains(path, "/.") before the regexes: every pattern must need a dot directory.
test_every_pattern_starts_with_a_dot_directory if {
	every pattern in pal_011.credential_files {
		startswith(pattern, `/\.`)
	}
}
