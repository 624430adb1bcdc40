import { test } from 'node:test';
import assert from 'node:assert/strict';
import { errorCode } from './errors.js';
import { bool, configTable, describeConfig, flagName, int, list, loadConfig, oneOf, str, type ConfigSources } from './config-schema.js';

const schema = {
  brokers: list('Kafka brokers', 'T_BROKERS', ['a:9092']),
  metricsPort: int('Metrics port', 'T_METRICS_PORT', 9464, 0, 65535),
  logLevel: oneOf('Log level', 'T_LOG_LEVEL', 'info', ['debug', 'info', 'warn'] as const),
  dryRun: bool('Do not write', 'T_DRY_RUN', true),
  verbose: bool('Say more', 'T_VERBOSE', false),
  node: str('Node name', 'T_NODE', 'default-node'),
};

function load(argv: string[], env: Record<string, string> = {}) {
  const src: ConfigSources = { argv, env };
  return loadConfig(schema, src);
}

/** The CONFIG_INVALID error's message, or a failure if loading succeeded or failed otherwise. */
function problems(argv: string[], env: Record<string, string> = {}): string {
  try {
    load(argv, env);
  } catch (err) {
    assert.equal(errorCode(err), 'CONFIG_INVALID');
    return (err as Error).message;
  }
  return assert.fail('expected CONFIG_INVALID');
}

test('defaults apply when neither flag nor env is set', () => {
  assert.deepEqual(load([]), {
    brokers: ['a:9092'], metricsPort: 9464, logLevel: 'info', dryRun: true, verbose: false, node: 'default-node',
  });
});

test('env overrides the default and a flag overrides env', () => {
  const env = { T_METRICS_PORT: '1000', T_NODE: 'from-env', T_BROKERS: 'x:1, y:2,,' };
  const fromEnv = load([], env);
  assert.equal(fromEnv.metricsPort, 1000);
  assert.equal(fromEnv.node, 'from-env');
  assert.deepEqual(fromEnv.brokers, ['x:1', 'y:2']);
  const fromFlag = load(['--metrics-port', '2000', '--node=from-flag'], env);
  assert.equal(fromFlag.metricsPort, 2000);
  assert.equal(fromFlag.node, 'from-flag');
});

test('an empty env variable means unset, but an empty flag value is a value', () => {
  assert.equal(load([], { T_NODE: '' }).node, 'default-node');
  assert.equal(load(['--node='], { T_NODE: 'env' }).node, '');
});

test('--flag=value and --flag value are the same; a value may contain =', () => {
  assert.equal(load(['--node=a=b']).node, 'a=b');
  assert.equal(load(['--node', 'a=b']).node, 'a=b');
  assert.equal(load(['--log-level=debug']).logLevel, 'debug');
  assert.equal(load(['--log-level', 'warn']).logLevel, 'warn');
});

test('boolean flags: bare means true, and take an explicit true/false after them or after =', () => {
  assert.equal(load(['--verbose']).verbose, true);
  assert.equal(load(['--dry-run', 'false']).dryRun, false);
  assert.equal(load(['--dry-run', 'FALSE']).dryRun, false);
  assert.equal(load(['--dry-run=false']).dryRun, false);
  assert.equal(load(['--dry-run=no']).dryRun, false);
  assert.equal(load(['--verbose', 'true']).verbose, true);
  assert.equal(load([], { T_DRY_RUN: 'off' }).dryRun, false);
  // A bare boolean does not swallow the next flag.
  const c = load(['--verbose', '--node', 'n1']);
  assert.equal(c.verbose, true);
  assert.equal(c.node, 'n1');
});

test('every problem is reported at once, naming where each bad value came from', () => {
  const msg = problems(['--metrics-port=99999', '--log-level', 'loud', '--bogus', 'stray'], { T_DRY_RUN: 'maybe' });
  assert.match(msg, /--metrics-port="99999": must be between 0 and 65535/);
  assert.match(msg, /--log-level="loud": must be one of debug, info, warn/);
  assert.match(msg, /unknown flag --bogus/);
  assert.match(msg, /unexpected argument "stray"/);
  assert.match(msg, /T_DRY_RUN="maybe": must be true or false/);
});

test('integers must be whole numbers in range', () => {
  assert.match(problems([], { T_METRICS_PORT: '12.5' }), /T_METRICS_PORT="12.5": must be an integer/);
  assert.match(problems([], { T_METRICS_PORT: '0x10' }), /must be an integer/);
  assert.match(problems(['--metrics-port=-1']), /must be between 0 and 65535/);
  assert.equal(load([], { T_METRICS_PORT: ' 80 ' }).metricsPort, 80);
});

test('a flag that needs a value and has none is a problem, not a silent swallow of the next flag', () => {
  assert.match(problems(['--node']), /flag --node needs a value/);
  const msg = problems(['--node', '--verbose']);
  assert.match(msg, /flag --node needs a value/);
});

test('flag names are the keys in kebab case', () => {
  assert.equal(flagName('metricsPort'), '--metrics-port');
  assert.equal(flagName('kafka'), '--kafka');
  assert.equal(flagName('maxActionsPerMinute'), '--max-actions-per-minute');
});

test('describeConfig lists every key with its flag, env, default and doc', () => {
  const help = describeConfig(schema);
  for (const [key, spec] of Object.entries(schema)) {
    const line = help.split('\n').find((l) => l.trimStart().startsWith(flagName(key) + ' '));
    assert.ok(line, `no help line for ${key}`);
    assert.ok(line.includes(spec.env), `${key}: env missing`);
    assert.ok(help.includes(spec.doc), `${key}: doc missing`);
  }
  assert.match(help, /--brokers\s+T_BROKERS\s+default a:9092/, 'a list default is shown comma-separated');
  assert.match(help, /--metrics-port\s+T_METRICS_PORT\s+default 9464/);
  assert.match(help, /Log level \(debug \| info \| warn\)/, 'a oneOf doc lists the allowed values');
});

test('configTable is a Markdown table with one row per key', () => {
  const lines = configTable(schema).split('\n');
  assert.equal(lines[0], '| flag | env | default | meaning |');
  assert.equal(lines.length, 2 + Object.keys(schema).length);
  assert.ok(lines.includes('| `--metrics-port` | `T_METRICS_PORT` | `9464` | Metrics port |'));
  assert.ok(lines.includes('| `--brokers` | `T_BROKERS` | `a:9092` | Kafka brokers |'));
  assert.ok(lines.includes('| `--node` | `T_NODE` | `"default-node"` | Node name |'));
});
