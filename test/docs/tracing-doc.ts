// The header of policies/tracing/default.yaml lists the rules and the event kinds each reads, so a reader can check
// the file's Drop selectors against them ("drop only what no rule reads"). The list is generated from the rules'
// # METADATA blocks (as the build writes them to build/policies/metadata.json), so it cannot go stale as rules are
// added: `node test/dist/docs/tracing-doc.js --write` rewrites it; tracing-doc.test.ts fails when it is stale.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../support/service-process.js';

export const TRACING_POLICY = join(REPO_ROOT, 'policies/tracing/default.yaml');
export const METADATA = join(REPO_ROOT, 'build/policies/metadata.json');
const START = '# rules:start (generated from the rules\' METADATA by test/docs/tracing-doc.ts: do not edit by hand)';
const END = '# rules:end';

interface RuleMeta { id: string; title: string; event_kinds: string[] }

export function rulesBlock(metadataJson: string): string {
  const { rules } = JSON.parse(metadataJson) as { rules: RuleMeta[] };
  const sorted = [...rules].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const kinds = sorted.map((r) => r.event_kinds.join(','));
  const width = Math.max(...kinds.map((k) => k.length));
  const lines = sorted.map((r, i) => `#   ${r.id}  ${kinds[i]!.padEnd(width)}  ${r.title}`.trimEnd());
  return [START, ...lines, END].join('\n');
}

/** The policy file with its rule list replaced by the generated one. */
export function withRulesBlock(text: string, metadataJson: string): string {
  const a = text.indexOf(START);
  const b = text.indexOf(END);
  if (a < 0 || b < a) throw new Error(`${TRACING_POLICY} has no "${START}" ... "${END}" lines`);
  return text.slice(0, a) + rulesBlock(metadataJson) + text.slice(b + END.length);
}

if (process.argv.includes('--write')) {
  writeFileSync(TRACING_POLICY, withRulesBlock(readFileSync(TRACING_POLICY, 'utf8'), readFileSync(METADATA, 'utf8')));
  process.stderr.write('policies/tracing/default.yaml: rule list regenerated\n');
}
