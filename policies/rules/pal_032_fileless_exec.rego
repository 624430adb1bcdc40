# METADATA
# title: Fileless exec (memfd or deleted binary) in a container
# description: >-
#   An exec in a container whose binary is a memfd (memfd_create, then execve of /proc/self/fd/N or execveat) or
#   a file already unlinked, as the collector reports in exec.from_memfd: code run this way never touches the
#   image or a disk an investigator can read, which is why droppers and in-memory loaders do it. High
#   confidence, so quarantine. runc (which re-executes itself from a memfd copy against CVE-2019-5736) is left
#   alone by name. Not covered: a binary written to /tmp or /dev/shm and executed (drift, another rule).
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1620/
# scope: package
# custom:
#   id: PAL-032
#   severity: critical
#   mitre: T1620
#   actions: [quarantine]
#   event_kinds: [exec]
package palisade.rules.pal_032

import data.palisade.lib
import data.palisade.lib.attack

alerts contains {"index": i, "rule_id": "PAL-032", "message": msg} if {
	some i, e in input.events
	e.kind == "exec"
	attack.in_container(e)
	e.exec.from_memfd == true
	not attack.runtime_process(e.process.comm)
	msg := sprintf("%s (pid %d, uid %d) executed a binary with no file on disk (%s, argv %s) in %s", [
		e.process.comm, e.process.pid, e.process.uid, e.exec.filename, concat(" ", e.exec.argv), lib.workload(e),
	])
}
