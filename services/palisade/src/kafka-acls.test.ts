import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runKafkaAcls } from './kafka-acls.js';

async function printed(argv: string[]): Promise<string[]> {
  const lines: string[] = [];
  await runKafkaAcls({ argv, env: {} }, (l) => lines.push(l));
  return lines;
}

test('without --apply it prints the plan as kafka-acls.sh commands, following the user and group flags', async () => {
  const lines = await printed(['--kafka', 'kafka-0:9093', '--evaluator-user', 'rules', '--responder-group', 'resp-a']);
  assert.ok(lines.every((l) => l.startsWith('kafka-acls.sh --bootstrap-server kafka-0:9093 --command-config admin.properties --add ')));
  const alertWriters = lines.filter((l) => l.endsWith('--operation Write --topic palisade.alerts'));
  assert.deepEqual(alertWriters.map((l) => /--allow-principal (\S+)/.exec(l)?.[1]), ['User:rules']);
  assert.ok(lines.some((l) => l.includes('--allow-principal User:palisade-responder --operation Read --group resp-a')));
  assert.ok(lines.some((l) => l.includes('--allow-principal User:palisade-collector --operation Write --topic palisade.events.raw')));
  assert.equal(lines.filter((l) => l.includes('User:palisade-collector') && l.includes('--operation Read')).length, 0,
    'the collector reads nothing');
});

test('the backtest principal: reads the enriched topic, its prefixed groups (read, delete), writes only its shadow topic', async () => {
  const lines = (await printed(['--backtest-user', 'bt', '--backtest-group-prefix', 'bt-'])).filter((l) => l.includes('User:bt '));
  const ops = lines.map((l) => l.replace(/^.*--allow-principal User:bt /, ''));
  assert.deepEqual(ops.sort(), [
    '--operation DescribeConfigs --topic palisade.backtest.alerts',
    '--operation DescribeConfigs --topic palisade.events.enriched',
    '--operation Delete --group bt- --resource-pattern-type prefixed',
    '--operation Read --group bt- --resource-pattern-type prefixed',
    '--operation Read --topic palisade.events.enriched',
    '--operation Write --topic palisade.backtest.alerts',
  ].sort());
});

test('--apply with a bad security combination fails before connecting, as a config error', async () => {
  await assert.rejects(printed(['--apply', '--kafka-username', 'admin']),
    (e: unknown) => (e as { code?: string }).code === 'CONFIG_INVALID');
});
