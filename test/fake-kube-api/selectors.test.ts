import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fieldValue, matchesFields, matchesLabels, parseFieldSelector, parseLabelSelector, SelectorError } from './selectors.js';

test('label selectors: equality, sets, existence', () => {
  const labels = { app: 'web', tier: 'front' };
  const m = (s: string): boolean => matchesLabels(parseLabelSelector(s), labels);
  assert.equal(m(''), true);
  assert.equal(m('app=web'), true);
  assert.equal(m('app==web,tier=front'), true);
  assert.equal(m('app!=web'), false);
  assert.equal(m('app!=db'), true);
  assert.equal(m('missing!=x'), true, '!= matches objects without the label');
  assert.equal(m('app in (db, web)'), true);
  assert.equal(m('app notin (db,web)'), false);
  assert.equal(m('tier'), true);
  assert.equal(m('!tier'), false);
  assert.equal(m('!missing'), true);
  assert.equal(m('example.com/team'), false);
});

test('label selectors that do not parse throw', () => {
  for (const s of ['app in (web', 'app in ()', 'bad key=1', 'app=bad value', ',', 'app=web,', '-app=x']) {
    assert.throws(() => parseLabelSelector(s), SelectorError, s);
  }
});

test('field selectors: supported fields only', () => {
  const pod = { metadata: { name: 'a' }, spec: { nodeName: 'n1', hostNetwork: true } };
  const supported = ['metadata.name', 'spec.nodeName', 'spec.hostNetwork', 'status.phase'];
  assert.equal(matchesFields(parseFieldSelector('spec.nodeName=n1', supported), pod), true);
  assert.equal(matchesFields(parseFieldSelector('spec.nodeName!=n1', supported), pod), false);
  assert.equal(matchesFields(parseFieldSelector('status.phase=', supported), pod), true, 'missing reads as empty');
  assert.equal(fieldValue(pod, 'spec.hostNetwork'), 'true');
  assert.throws(() => parseFieldSelector('spec.containers=x', supported), /field label not supported/);
  assert.throws(() => parseFieldSelector('spec.nodeName', supported), SelectorError);
});
