# METADATA
# title: io_uring ring created in a container
# description: >-
#   io_uring_setup called by a process in a container, whatever the result. A ring's operations (IORING_OP_OPENAT,
#   CONNECT, SEND, READ, ...) are done by the kernel without the open, connect or send syscalls every other hook
#   watches: /etc/shadow opened through a ring gives PAL-001 nothing to see, and rootkits use rings to hide their
#   I/O from syscall-based tools. containerd's and Docker's default seccomp profiles refuse io_uring, so a container
#   that reaches it runs unconfined or with a custom profile; the few workloads that use it (some databases and
#   async runtimes) should be exempted by workload. What the ring then does is not visible here (policies/README.md
#   "Known gaps").
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1562/001/
# scope: package
# custom:
#   id: PAL-049
#   severity: medium
#   mitre: T1562.001
#   actions: []
#   event_kinds: [io_uring]
package palisade.rules.pal_049

import data.palisade.lib
import data.palisade.lib.attack

alerts contains {"index": i, "rule_id": "PAL-049", "message": msg} if {
	some i, e in input.events
	e.kind == "io_uring"
	attack.in_container(e)
	not attack.runtime_process(e.process.comm)
	msg := sprintf("%s created an io_uring ring (%d entries, flags %d, result %d), whose I/O no syscall hook sees, in %s", [
		attack.who(e), e.io_uring.entries, e.io_uring.flags, e.io_uring.result, lib.workload(e),
	])
}
