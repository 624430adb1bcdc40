# METADATA
# title: Palisade alert aggregator
# description: >-
#   The wasm entrypoint (palisade/main/alerts). Collects the alerts of every package under data.palisade.rules, so a
#   new rule file is picked up without touching this one.
# scope: package
package palisade.main

# A set, not an array: the same (index, rule_id, message) can only be reported once per batch. Order in the JSON
# result is OPA's set order; the evaluator sorts by event index itself.
alerts contains alert if {
	some alert in data.palisade.rules[_].alerts
}
