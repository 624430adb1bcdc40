#!/usr/bin/env node
// `palisade <command>`: the embedded pipeline (default), or one stage as its own process.
import { runIfMain, type ConfigSources } from '@palisade/common';
import { runCollector, runProbe } from '@palisade/collector';
import { runEnricher } from '@palisade/enricher';
import { runEvaluator } from '@palisade/evaluator';
import { runResponder } from '@palisade/responder';
import { runPolicy } from './backtest.js';
import { runEmbedded } from './embedded.js';
import { runAttack } from './attack/index.js';
import { runKafkaAcls } from './kafka-acls.js';
import { runRules } from './rules-list.js';

const COMMANDS: Record<string, { run: (src: ConfigSources) => Promise<void>; doc: string }> = {
  embedded: { run: runEmbedded, doc: 'all four stages in this process (in-process bus, or Kafka with --kafka)' },
  collector: { run: runCollector, doc: 'the eBPF collector (one per node, as root)' },
  enricher: { run: runEnricher, doc: 'adds pod metadata from the Kubernetes API' },
  evaluator: { run: runEvaluator, doc: 'runs the Rego policies (wasm) and emits alerts' },
  responder: { run: runResponder, doc: 'quarantines pods behind safety rails (dry-run by default)' },
  probe: { run: runProbe, doc: 'what this kernel supports: hooks, buffers, helpers, event kinds, enforcement' },
  rules: { run: (src) => runRules(src), doc: 'rules list [--tuning <path>] [--json]: every rule, enabled or not and why, severity, exceptions' },
  policy: { run: runPolicy, doc: 'policy backtest: run candidate rules over the retained enriched topic, diff against the current rules' },
  attack: { run: (src) => runAttack(src), doc: 'run rules\' triggers on this node (attack techniques, done safely): <rule-id>|all [--pod]' },
  'kafka-acls': { run: (src) => runKafkaAcls(src), doc: 'per-stage Kafka ACLs and topics: print them, or --apply as the admin' },
};

export async function main(src: ConfigSources): Promise<void> {
  const [first, ...rest] = src.argv;
  if (first === 'help' || first === '--help' && rest.length === 0) {
    const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(10)} ${c.doc}`);
    process.stdout.write(`usage: palisade <command> [flags]   (palisade <command> --help lists the flags)\n${lines.join('\n')}\n`);
    return;
  }
  if (first === undefined || first.startsWith('--')) return runEmbedded(src);
  const cmd = COMMANDS[first];
  if (!cmd) throw new Error(`unknown command ${JSON.stringify(first)}; try: palisade help`);
  return cmd.run({ env: src.env, argv: rest });
}

runIfMain(import.meta.url, 'palisade', main);
