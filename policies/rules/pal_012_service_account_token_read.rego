# METADATA
# title: Service-account token read by a shell or file tool in a container
# description: >-
#   A shell, a file-dumping tool (cat, head, tail, less, base64, xxd, strings, cp, tar, dd, grep, sed, awk, jq) or a
#   downloader (curl, wget) opened the pod's Kubernetes service-account token (/var/run/secrets/kubernetes.io/
#   serviceaccount/token, /run/secrets/..., the EKS web-identity token), by its kernel-resolved path (the token is
#   a symlink into a ..data directory, and /var/run is /run). The heuristic: the application's own client library
#   reads the token from its own process, which is the entrypoint lineage (a Go, Python, Java or Node binary);
#   a person or a script at a shell reads it with a tool, typically `cat token` or `curl -H "Authorization: Bearer
#   $(cat token)"`. A shell in the ancestry alone is not used, since `sh -c app` entrypoints make every app a
#   child of a shell. Evasion: an interpreter one-liner (python -c "open(token)") reads it as the interpreter; the
#   API calls that follow are PAL-036's business.
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1528/
# scope: package
# custom:
#   id: PAL-012
#   severity: high
#   mitre: T1528
#   actions: []
#   event_kinds: [file_open]
package palisade.rules.pal_012

import data.palisade.lib
import data.palisade.lib.attack

token_path := `^(/var)?/run/secrets/(kubernetes\.io|eks\.amazonaws\.com)/serviceaccount/(.+/)?token$`

tools := attack.shells | {
	"cat", "head", "tail", "less", "more", "base64", "xxd", "od", "hexdump", "strings", "cp", "tar", "dd", "grep",
	"sed", "awk", "gawk", "mawk", "jq", "tac", "nl", "vi", "vim", "nano", "curl", "wget",
}

alerts contains {"index": i, "rule_id": "PAL-012", "message": msg} if {
	some i, e in input.events
	e.kind == "file_open"
	attack.in_container(e)

	# The set lookup before the regex: most opens are not by one of these tools. tools[x], not `x in tools`: the wasm
	# runs `in` as a scan of the set (about 2 µs for this one), a reference as a hash lookup.
	tools[e.process.comm]
	regex.match(token_path, e.file_open.path)
	msg := sprintf("%s read the service-account token %s in %s", [attack.who(e), e.file_open.path, lib.workload(e)])
}
