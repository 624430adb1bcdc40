package palisade.lib.tuning_test

import data.palisade.lib.fixtures
import data.palisade.lib.tuning

# The web pod's cat (uid 1000, parent python3) opening a file, and a shell it started.
open_ev := fixtures.file_open("/var/log/app/out.log")

shell_ev := fixtures.exec("/bin/sh", ["sh", "-c", "true"], {
	"comm": "sh", "binary": "/bin/sh", "parent_comm": "python3", "parent_binary": "/usr/local/bin/python3",
})

m(x, e) if tuning.matches(object.union({"name": "x"}, x), e)

test_enabled_unless_disabled if {
	tuning.enabled("PAL-001")
	tuning.enabled("PAL-001") with data.palisade.tuning as {"rules": {"PAL-001": {"enabled": true}}}
	not tuning.enabled("PAL-001") with data.palisade.tuning as {"rules": {"PAL-001": {"enabled": false}}}
	tuning.enabled("PAL-002") with data.palisade.tuning as {"rules": {"PAL-001": {"enabled": false}}}
}

test_namespace_exact_or_glob if {
	m({"namespace": "shop"}, open_ev)
	m({"namespace": ["ci", "shop"]}, open_ev)
	m({"namespace": "sh*"}, open_ev)
	not m({"namespace": "sho"}, open_ev)
	not m({"namespace": "shop"}, fixtures.unenriched(open_ev))
	not m({"namespace": "*"}, fixtures.host(open_ev))
}

test_workload_by_kind_and_name_or_name if {
	m({"workload": "Deployment/web"}, open_ev)
	m({"workload": "web"}, open_ev)
	m({"workload": "*/w*"}, open_ev)
	not m({"workload": "StatefulSet/web"}, open_ev)
	not m({"workload": "we"}, open_ev)
	not m({"workload": "Deployment/web/x"}, open_ev)
}

test_image_by_reference_repository_or_glob if {
	m({"image": "registry.example.com/shop/web:1.4.2"}, open_ev)
	m({"image": "registry.example.com/shop/web"}, open_ev)
	m({"image": "registry.example.com/shop/*"}, open_ev)
	not m({"image": "registry.example.com/shop/web:1.4"}, open_ev)
	not m({"image": "registry.example.com/shop"}, open_ev)
	not m({"image": "registry.example.com/shop/we"}, open_ev)
	tuning.image_repository("reg:5000/a/b:1@sha256:00") == "reg:5000/a/b"
	tuning.image_repository("reg:5000/a/b") == "reg:5000/a/b"
	tuning.image_repository("nginx") == "nginx"
}

test_binary_by_path_name_or_glob if {
	m({"binary": "/usr/bin/cat"}, open_ev)
	m({"binary": "cat"}, open_ev)
	m({"binary": "/usr/bin/*"}, open_ev)
	m({"binary": "/bin/sh"}, shell_ev)
	not m({"binary": "/bin/cat"}, open_ev)
	not m({"binary": "ca"}, open_ev)
	not m({"binary": "/usr/local/*"}, open_ev)
}

test_parent_by_binary_or_name if {
	m({"parent": "/usr/local/bin/python3"}, shell_ev)
	m({"parent": "python3"}, shell_ev)
	m({"parent": "python*"}, shell_ev)
	m({"parent": "python3"}, open_ev)
	not m({"parent": "/usr/bin/python3"}, shell_ev)
	not m({"parent": "node"}, shell_ev)
}

test_path_by_prefix_at_a_component_or_glob if {
	m({"path": "/var/log"}, open_ev)
	m({"path": "/var/log/"}, open_ev)
	m({"path": "/var/log/app/out.log"}, open_ev)
	m({"path": "/var/*/out.log"}, open_ev)
	not m({"path": "/var/lo"}, open_ev)
	not m({"path": "/var/log/app/out"}, open_ev)
	m({"path": "/bin"}, shell_ev)
}

test_user_by_uid if {
	m({"user": 1000}, open_ev)
	m({"user": [0, 1000]}, open_ev)
	not m({"user": 0}, open_ev)
}

test_fields_are_anded_and_values_ored if {
	m({"namespace": "shop", "binary": ["sh", "cat"]}, open_ev)
	not m({"namespace": "shop", "binary": ["sh", "bash"]}, open_ev)
	not m({"namespace": "ci", "binary": "cat"}, open_ev)
}

test_an_empty_or_unknown_exception_matches_nothing if {
	not m({}, open_ev)
	not tuning.matches({"name": "x", "rules": ["PAL-001"]}, open_ev)
	not m({"namespace": "shop", "namspace": "ci"}, open_ev)
	m({"namespace": "shop", "reason": "why"}, open_ev)
}

test_exception_hit_names_the_first_match_of_that_rule_only if {
	t := {
		"rules": {
			"PAL-001": {"exceptions": [
				{"name": "z-logs", "path": "/var/log"},
				{"name": "a-cat", "binary": "cat"},
				{"name": "ci", "namespace": "ci"},
			]},
			"PAL-002": {"exceptions": [{"name": "everything-in-shop", "namespace": "shop"}]},
		},
		"exceptions": [{"name": "global", "rules": ["PAL-003"], "namespace": "shop"}],
	}
	tuning.exception_hit("PAL-001", open_ev) == {"excepted_by": "a-cat"} with data.palisade.tuning as t
	tuning.exception_hit("PAL-003", open_ev) == {"excepted_by": "global"} with data.palisade.tuning as t
	tuning.exception_hit("PAL-004", open_ev) == {} with data.palisade.tuning as t
	tuning.exception_hit("PAL-002", fixtures.host(open_ev)) == {} with data.palisade.tuning as t
}

test_decide_without_tuning_is_the_alert_itself if {
	a := {"index": 0, "rule_id": "PAL-001", "message": "m"}
	tuning.decide(a, open_ev) == a
	tuning.decide(a, open_ev) == object.union(a, {"severity": "low"}) with data.palisade.tuning as {"rules": {"PAL-001": {"severity": "low"}}}
}
