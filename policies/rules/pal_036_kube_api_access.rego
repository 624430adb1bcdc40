# METADATA
# title: Kubernetes API reached with kubectl or curl from a container
# description: >-
#   kubectl (or oc) executed in a container, or curl/wget/http(ie) with arguments that point at the Kubernetes or
#   kubelet API: the in-cluster name (kubernetes.default[.svc]), the service-account CA or token path, the API
#   server or kubelet ports (:6443, :10250, :10255), or API paths (/api/v1/<namespaces|pods|secrets|nodes|...>,
#   /apis/<apps|batch|rbac...>/). What works from events: KUBERNETES_SERVICE_HOST is not in them and the
#   service IP is cluster-specific, so connects to 443 cannot be told from any HTTPS; the argv is where the intent
#   shows. A REST call to an application's own /api/v1/health does not fire (the resource name is required).
#   Evasions: an interpreter's HTTP client, or an API client library in the application itself.
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1613/
# scope: package
# custom:
#   id: PAL-036
#   severity: medium
#   mitre: T1613
#   actions: []
#   event_kinds: [exec]
package palisade.rules.pal_036

import data.palisade.lib
import data.palisade.lib.attack

kube_clients := {"kubectl", "oc"}

http_tools := {"curl", "wget", "http", "https"}

api_pattern := `kubernetes\.default|/run/secrets/kubernetes\.io|:(6443|10250|10255)\b|/api/v1/(namespaces|pods|secrets|nodes|configmaps|serviceaccounts|services|endpoints|persistentvolumes)\b|/apis/(apps|batch|rbac\.authorization\.k8s\.io|authorization\.k8s\.io|authentication\.k8s\.io|networking\.k8s\.io|policy)/`

alerts contains {"index": i, "rule_id": "PAL-036", "message": msg} if {
	some i, e in input.events
	e.kind == "exec"
	attack.in_container(e)
	tool := attack.exec_name(e)
	api_call(tool, e)
	msg := sprintf("%s (pid %d, uid %d) calls the Kubernetes API: %s in %s", [tool, e.process.pid, e.process.uid, concat(" ", e.exec.argv), lib.workload(e)])
}

api_call(tool, _) if tool in kube_clients

api_call(tool, e) if {
	tool in http_tools
	regex.match(api_pattern, concat(" ", e.exec.argv))
}
