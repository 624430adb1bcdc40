# METADATA
# title: Mining pool contacted from a container (stratum port or pool name)
# description: >-
#   A connect from a container to a port miners' stratum protocol uses (3333, 5555, 7777, 14444, 14433, 45700, 45560;
#   4444 is left to PAL-004, whose default denied ports have it) on a non-loopback address, or a DNS query for a
#   known mining pool (nanopool, minexmr, supportxmr, moneroocean, 2miners, f2pool, hashvault, c3pool, herominers,
#   nicehash, unmineable, ...) or a name with a miner's label (xmr., xmr-*, monero*, stratum*, *pool.* followed by a
#   coin). A listener in the same pod on one of these ports is not C2 (loopback is left alone). Deliberately not
#   matched: pool.ntp.org and other names that merely contain "pool"; a stratum port alone is a weaker signal than a
#   pool name, which is why this rule recommends no action (PAL-004's denied ports can block egress).
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1496/
# scope: package
# custom:
#   id: PAL-039
#   severity: high
#   mitre: T1496
#   actions: []
#   event_kinds: [net_connect, dns_query]
package palisade.rules.pal_039

import data.palisade.lib
import data.palisade.lib.attack

stratum_ports := {3333, 5555, 7777, 14444, 14433, 45700, 45560}

pool_domains := {
	"nanopool.org", "minexmr.com", "supportxmr.com", "moneroocean.stream", "2miners.com", "f2pool.com",
	"ethermine.org", "hashvault.pro", "c3pool.com", "herominers.com", "nicehash.com", "miningpoolhub.com",
	"unmineable.com", "xmrpool.eu", "dwarfpool.com", "minergate.com", "viabtc.com", "antpool.com", "slushpool.com",
	"kryptex.network", "p2pool.io", "zpool.ca", "prohashing.com", "monerohash.com", "xmrpool.net", "gulf.moneroocean.stream",
}

miner_label := `(^|\.)(xmr|xmr-[a-z0-9-]+|monero[a-z0-9-]*|stratum[a-z0-9-]*)\.|(^|\.)[a-z0-9-]*pool\.(xmr|monero|eth|etc|rvn|zec|ltc|btc|kas|erg)[a-z]*\.`

alerts contains {"index": i, "rule_id": "PAL-039", "message": msg} if {
	some i, e in input.events
	e.kind == "net_connect"
	attack.in_container(e)
	e.net_connect.dport in stratum_ports
	not attack.loopback(e.net_connect.daddr)
	msg := sprintf("%s connected to %s port %d, a mining-pool (stratum) port, in %s", [
		attack.who(e), e.net_connect.daddr, e.net_connect.dport, lib.workload(e),
	])
}

alerts contains {"index": i, "rule_id": "PAL-039", "message": msg} if {
	some i, e in input.events
	e.kind == "dns_query"
	attack.in_container(e)
	name := trim_suffix(lower(e.dns_query.name), ".")
	pool_name(name)
	msg := sprintf("%s looked up the mining pool %s in %s", [attack.who(e), name, lib.workload(e)])
}

pool_name(name) if {
	some d in pool_domains
	domain_or_sub(name, d)
}

pool_name(name) if regex.match(miner_label, name)

domain_or_sub(name, d) if name == d

domain_or_sub(name, d) if endswith(name, concat("", [".", d]))
