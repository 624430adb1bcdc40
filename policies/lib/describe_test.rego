package palisade.lib_test

import data.palisade.lib
import data.palisade.lib.fixtures

test_workload_names_the_pod if {
	lib.workload(fixtures.event("exec", {}, {})) == "pod shop/web-7d9f8c6b5-x2x4q"
}

test_workload_names_the_container_when_the_pod_is_unknown if {
	ev := fixtures.unenriched(fixtures.event("exec", {}, {}))
	lib.workload(ev) == sprintf("container %s", [fixtures.container.id])
}

test_workload_names_the_host if {
	lib.workload(fixtures.host(fixtures.event("exec", {}, {}))) == "the host"
}

test_basename if {
	lib.basename("/usr/bin/bash") == "bash"
	lib.basename("bash") == "bash"
	lib.basename("/bin/") == ""
}
