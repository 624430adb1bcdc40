# METADATA
# title: Message helpers shared by the rules
# scope: package
package palisade.lib

# workload names where an event happened, for alert messages: the pod when the enricher found one, else the container
# id (an unenriched container: its pod was not known within the enricher's hold time).
workload(e) := sprintf("pod %s/%s", [e.pod.namespace, e.pod.name]) if {
	e.pod != null
} else := sprintf("container %s", [e.container.id]) if {
	e.container != null
} else := "the host"

# basename of a path: "/usr/bin/bash" -> "bash", "bash" -> "bash".
basename(path) := name if {
	parts := split(path, "/")
	name := parts[count(parts) - 1]
}
