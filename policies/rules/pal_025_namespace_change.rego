# METADATA
# title: Namespace created or entered in a container
# description: >-
#   unshare in a container creating a user namespace (CLONE_NEWUSER) or a mount namespace (CLONE_NEWNS), or setns
#   into any namespace (what nsenter does: nsenter -t 1 -m -u -i -n -p is the classic escape from a privileged or
#   hostPID container). A new user namespace grants a full capability set inside it, the first step of most
#   namespace-based kernel exploits; a new mount namespace lets a process mount over paths unseen by the rest of
#   the container. Attempts count: the syscall is reported before its result. The container runtime's setup
#   (runc, crun) is left alone. Deliberately not excluded: sandboxes that use namespaces (Chromium, bubblewrap);
#   exempt the workload. unshare of only a network, UTS or IPC namespace does not fire.
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1611/
# scope: package
# custom:
#   id: PAL-025
#   severity: high
#   mitre: T1611
#   actions: []
#   event_kinds: [namespace]
package palisade.rules.pal_025

import data.palisade.lib
import data.palisade.lib.attack

clone_newns := 131072

clone_newuser := 268435456

alerts contains {"index": i, "rule_id": "PAL-025", "message": msg} if {
	some i, e in input.events
	e.kind == "namespace"
	attack.in_container(e)
	not attack.runtime_process(e.process.comm)
	some what in change(e.namespace)
	msg := sprintf("%s %s in %s", [attack.who(e), what, lib.workload(e)])
}

change(ns) := {sprintf("entered another %s with setns (fd %d)", [ns_name(ns.flags), ns.fd])} if {
	ns.syscall == "setns"
} else := {sprintf("unshared into a new %s", [concat(" and ", names)])} if {
	ns.syscall == "unshare"
	names := [n | some [bit, n] in [[clone_newuser, "user namespace"], [clone_newns, "mount namespace"]]; bits.and(ns.flags, bit) != 0]
	count(names) > 0
} else := set()

ns_names := {
	131072: "mount namespace", 268435456: "user namespace", 536870912: "pid namespace",
	1073741824: "network namespace", 67108864: "uts namespace", 134217728: "ipc namespace",
	33554432: "cgroup namespace", 128: "time namespace",
}

ns_name(flags) := ns_names[flags]

ns_name(flags) := "namespace" if not ns_names[flags]
