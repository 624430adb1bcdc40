# METADATA
# title: Palisade alert aggregator
# description: >-
#   The wasm entrypoint (palisade/main/alerts). Collects the alerts of every package under data.palisade.rules, so a
#   new rule file is picked up without touching this one, and applies the tuning (lib/tuning.rego) to each: a
#   disabled rule's alerts are left out, a severity override is added, an alert an exception matched carries
#   "excepted_by" (the evaluator counts and drops it).
# scope: package
package palisade.main

import data.palisade.lib.tuning

# A set, not an array: the same (index, rule_id, message) can only be reported once per batch. Order in the JSON
# result is OPA's set order; the evaluator sorts by event index itself.
alerts contains tuning.decide(alert, input.events[alert.index]) if {
	some alert in data.palisade.rules[_].alerts
	tuning.enabled(alert.rule_id)
}
