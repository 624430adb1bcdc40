# METADATA
# title: Cloud or cluster credential file read in a container
# description: >-
#   A process in a container opened a credential file of a cloud CLI or a cluster client: ~/.aws/credentials and
#   the AWS SSO/CLI token caches, gcloud's credential databases and application default credentials, the Azure
#   CLI's token caches, a kubeconfig (~/.kube/config) or a Docker registry login (~/.docker/config.json), in any
#   home directory, by its kernel-resolved path, failed or not. The CLI that owns the file (aws, kubectl, helm,
#   docker) is left alone. Deliberately not excluded: an application using a cloud SDK with a mounted credential
#   file (boto3 reading ~/.aws/credentials) fires; exempt that workload. Not covered: credentials in environment
#   variables or in files under other names.
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1552/001/
# scope: package
# custom:
#   id: PAL-011
#   severity: high
#   mitre: T1552.001
#   actions: []
#   event_kinds: [file_open]
package palisade.rules.pal_011

import data.palisade.lib
import data.palisade.lib.attack

credential_files := {
	"AWS credentials": `/\.aws/(credentials|(sso|cli)/cache/[^/]+)$`,
	"gcloud credentials": `/\.config/gcloud/(credentials\.db|access_tokens\.db|application_default_credentials\.json|legacy_credentials/.+)$`,
	"Azure CLI tokens": `/\.azure/(accessTokens\.json|msal_token_cache\.(json|bin)|service_principal_entries\.json)$`,
	"kubeconfig": `/\.kube/config$`,
	"Docker registry credentials": `/\.docker/config\.json$`,
}

owners := {"aws", "kubectl", "helm", "docker", "k9s"}

alerts contains {"index": i, "rule_id": "PAL-011", "message": msg} if {
	some i, e in input.events
	e.kind == "file_open"
	attack.in_container(e)

	# Every pattern starts with "/\." (a dot directory; the test pins it): a substring test spares the five regexes
	# on nearly every open.
	contains(e.file_open.path, "/.")
	some what, pattern in credential_files
	regex.match(pattern, e.file_open.path)
	not e.process.comm in owners
	msg := sprintf("%s read %s %s in %s", [attack.who(e), what, e.file_open.path, lib.workload(e)])
}
