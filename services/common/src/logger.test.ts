import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PalisadeError } from './errors.js';
import { createLogger, type LogLevel } from './logger.js';

function capture(level: LogLevel, base?: Record<string, unknown>) {
  const lines: string[] = [];
  const logger = createLogger({ level, write: (l) => lines.push(l), ...(base ? { base } : {}) });
  const records = (): Record<string, unknown>[] => lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  return { logger, lines, records };
}

test('each entry is one JSON object on one line, with time, level, message and fields', () => {
  const { logger, lines, records } = capture('debug');
  logger.info('batch sent', { count: 3, note: 'two\nlines' });
  assert.equal(lines.length, 1);
  assert.ok(lines[0]?.endsWith('\n'));
  assert.equal(lines[0]?.indexOf('\n'), (lines[0]?.length ?? 0) - 1, 'a newline in a field is escaped, not written');
  const [r] = records();
  assert.equal(r?.['level'], 'info');
  assert.equal(r?.['msg'], 'batch sent');
  assert.equal(r?.['count'], 3);
  assert.ok(!Number.isNaN(Date.parse(String(r?.['time']))));
});

test('entries below the minimum level are dropped', () => {
  const { logger, records } = capture('warn');
  logger.debug('d');
  logger.info('i');
  logger.warn('w');
  logger.error('e');
  assert.deepEqual(records().map((r) => r['level']), ['warn', 'error']);
});

test('a child logger adds its fields to every entry and keeps the parent\'s', () => {
  const { logger, records } = capture('info', { service: 'enricher' });
  const child = logger.child({ module: 'pod-cache' }).child({ topic: 't' });
  child.info('hello', { extra: 1 });
  logger.info('parent');
  const [c, p] = records();
  assert.deepEqual({ ...c, time: undefined }, {
    time: undefined, level: 'info', msg: 'hello', service: 'enricher', module: 'pod-cache', topic: 't', extra: 1,
  });
  assert.equal(p?.['module'], undefined, 'a child does not change its parent');
});

test('errors are written with their message, code, retriable flag and stack; bigints as strings', () => {
  const { logger, records } = capture('info');
  logger.error('failed', { err: new PalisadeError('BUS_SEND_FAILED', 'broker down', { retriable: true }), n: 2n ** 64n });
  const err = records()[0]?.['err'] as Record<string, unknown>;
  assert.equal(err['message'], 'broker down');
  assert.equal(err['code'], 'BUS_SEND_FAILED');
  assert.equal(err['retriable'], true);
  assert.equal(err['name'], 'PalisadeError');
  assert.match(String(err['stack']), /broker down/);
  assert.equal(records()[0]?.['n'], '18446744073709551616');
});
