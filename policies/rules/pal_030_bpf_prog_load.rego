# METADATA
# title: eBPF program loaded from a container
# description: >-
#   bpf(BPF_PROG_LOAD) by a process in a container, whatever the result: eBPF programs run in the host's kernel
#   and can read any process' memory, hide files and tamper with network traffic (eBPF rootkits). Ordinary
#   workloads never load them. Deliberately not excluded: node agents that are eBPF tools themselves (Cilium,
#   Falco, Pixie, Tetragon, this collector when run as a pod); exempt those workloads by name. Classic BPF socket
#   filters (SO_ATTACH_FILTER, tcpdump's) are not bpf() loads and do not fire.
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1014/
# scope: package
# custom:
#   id: PAL-030
#   severity: high
#   mitre: T1014
#   actions: []
#   event_kinds: [bpf_prog_load]
package palisade.rules.pal_030

import data.palisade.lib
import data.palisade.lib.attack

prog_types := {
	1: "socket filter", 2: "kprobe", 3: "sched_cls", 4: "sched_act", 5: "tracepoint", 6: "xdp", 7: "perf_event",
	8: "cgroup_skb", 9: "cgroup_sock", 26: "tracing", 29: "lsm",
}

alerts contains {"index": i, "rule_id": "PAL-030", "message": msg} if {
	some i, e in input.events
	e.kind == "bpf_prog_load"
	attack.in_container(e)
	b := e.bpf_prog_load
	msg := sprintf("%s loaded a %s eBPF program %s (%d instructions, result %d) in %s", [
		attack.who(e), prog_type(b.prog_type), name(b.prog_name), b.insn_count, b.result, lib.workload(e),
	])
}

prog_type(t) := prog_types[t]

prog_type(t) := sprintf("type %d", [t]) if not prog_types[t]

name(n) := sprintf("%s", [n]) if n != ""

name("") := "(unnamed)"
