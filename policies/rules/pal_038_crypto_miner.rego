# METADATA
# title: Cryptocurrency miner run in a container
# description: >-
#   An exec in a container of a known miner (xmrig and its forks, xmr-stak, cpuminer/minerd, ccminer, cgminer,
#   bfgminer, ethminer, t-rex, nbminer, lolminer, phoenixminer, gminer, nanominer, srbminer, teamredminer), by
#   file name or comm, or of anything whose arguments carry a stratum pool URL (stratum+tcp://, stratum+ssl://,
#   stratum2+tcp://) or xmrig's own flags (--donate-level, --randomx-mode): a renamed miner still needs its pool.
#   High confidence, so quarantine. Evasions: a renamed miner reading its pool from a config file (its
#   connection to a stratum port or a pool's DNS name is PAL-039's).
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1496/
# scope: package
# custom:
#   id: PAL-038
#   severity: critical
#   mitre: T1496
#   actions: [quarantine]
#   event_kinds: [exec]
package palisade.rules.pal_038

import data.palisade.lib
import data.palisade.lib.attack

miners := {
	"xmrig", "xmrig-notls", "xmrig-cuda", "xmr-stak", "xmr-stak-cpu", "xmr-stak-rx", "minerd", "cpuminer",
	"cpuminer-multi", "cpuminer-opt", "ccminer", "cgminer", "bfgminer", "ethminer", "t-rex", "nbminer", "lolminer",
	"phoenixminer", "gminer", "nanominer", "srbminer", "srbminer-multi", "teamredminer",
}

pool_args := `stratum2?\+(tcp|ssl|tls)://|--donate-level|--randomx-mode`

alerts contains {"index": i, "rule_id": "PAL-038", "message": msg} if {
	some i, e in input.events
	e.kind == "exec"
	attack.in_container(e)
	why := mining(e)
	msg := sprintf("%s (pid %d, uid %d) is a cryptocurrency miner (%s): %s in %s", [
		e.exec.filename, e.process.pid, e.process.uid, why, concat(" ", e.exec.argv), lib.workload(e),
	])
}

mining(e) := "known miner" if {
	some name in {lower(attack.exec_name(e)), lower(e.process.comm)}
	name in miners
} else := "pool arguments" if {
	regex.match(pool_args, attack.argv_text(e))
}
