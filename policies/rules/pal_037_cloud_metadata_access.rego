# METADATA
# title: Cloud instance metadata service contacted from a container
# description: >-
#   A connect from a container to a cloud metadata endpoint (169.254.169.254 on AWS, GCP, Azure and most clouds;
#   fd00:ec2::254, AWS's IPv6 one; 169.254.170.2, ECS task credentials; 100.100.100.200, Alibaba Cloud), any
#   port and result, or a DNS query for its names (metadata.google.internal, metadata, instance-data[.ec2.internal]):
#   node credentials are a request away when IMDSv1 or a hop limit above 1 lets pods reach it. Deliberately not
#   excluded: cloud SDKs that fall back to the metadata service for credentials when the pod has no workload
#   identity; exempt those workloads. Medium, for that reason.
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1552/005/
# scope: package
# custom:
#   id: PAL-037
#   severity: medium
#   mitre: T1552.005
#   actions: []
#   event_kinds: [net_connect, dns_query, net_socket]
package palisade.rules.pal_037

import data.palisade.lib
import data.palisade.lib.attack
import data.palisade.lib.macros

metadata_addrs := {"169.254.169.254", "fd00:ec2::254", "169.254.170.2", "100.100.100.200"}

metadata_names := {"metadata.google.internal", "metadata", "instance-data", "instance-data.ec2.internal"}

alerts contains {"index": i, "rule_id": "PAL-037", "message": msg} if {
	some i, e in input.events
	d := macros.destination(e)
	attack.in_container(e)
	d.addr in metadata_addrs
	msg := sprintf("%s %s the cloud metadata service %s port %d in %s", [
		attack.who(e), verb[d.via], d.addr, d.port, lib.workload(e),
	])
}

alerts contains {"index": i, "rule_id": "PAL-037", "message": msg} if {
	some i, e in input.events
	e.kind == "dns_query"
	attack.in_container(e)
	name := trim_suffix(lower(e.dns_query.name), ".")
	name in metadata_names
	msg := sprintf("%s looked up the cloud metadata service %s in %s", [attack.who(e), name, lib.workload(e)])
}

verb := {"connect": "connected to", "sendto": "sent a datagram to", "sendmsg": "sent a datagram to", "sendmmsg": "sent datagrams to"}
