import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DecodeError,
  defaultNetworkPolicy,
  isDns1123Label,
  isDns1123Subdomain,
  isLabelValue,
  isQualifiedName,
  validateNetworkPolicySpec,
  validatePodSpec,
} from './validation.js';

test('names', () => {
  assert.equal(isDns1123Subdomain('web-1.example'), true);
  assert.equal(isDns1123Subdomain('Web'), false);
  assert.equal(isDns1123Subdomain('-web'), false);
  assert.equal(isDns1123Subdomain('a'.repeat(254)), false);
  assert.equal(isDns1123Label('a.b'), false);
  assert.equal(isDns1123Label('a'.repeat(63)), true);
  assert.equal(isDns1123Label('a'.repeat(64)), false);
});

test('label keys and values', () => {
  assert.equal(isQualifiedName('app.kubernetes.io/name'), true);
  assert.equal(isQualifiedName('quarantined'), true);
  assert.equal(isQualifiedName('/name'), false);
  assert.equal(isQualifiedName('a/b/c'), false);
  assert.equal(isQualifiedName('Example.com/x'), false, 'prefix is a lowercase subdomain');
  assert.equal(isQualifiedName('x'.repeat(64)), false);
  assert.equal(isLabelValue(''), true);
  assert.equal(isLabelValue('true'), true);
  assert.equal(isLabelValue('-x'), false);
  assert.equal(isLabelValue('a b'), false);
});

test('pod spec needs named containers with images', () => {
  assert.deepEqual(validatePodSpec({ containers: [{ name: 'a', image: 'i' }] }), []);
  assert.equal(validatePodSpec(undefined).length, 1);
  assert.equal(validatePodSpec({ containers: [{ name: 'a', image: 'i' }, { name: 'a', image: 'i' }] })[0]?.reason, 'FieldValueDuplicate');
  assert.equal(validatePodSpec({ containers: [{ name: 'a' }] })[0]?.field, 'spec.containers[0].image');
});

test('network policy spec rules', () => {
  assert.deepEqual(validateNetworkPolicySpec({ podSelector: { matchLabels: { quarantined: 'true' } }, policyTypes: ['Egress'], egress: [] }), []);
  assert.equal(validateNetworkPolicySpec({ policyTypes: ['Egress', 'Egress'] })[0]?.reason, 'FieldValueDuplicate');
  assert.equal(validateNetworkPolicySpec({ egress: [{ to: [{}] }] })[0]?.reason, 'FieldValueRequired');
  assert.equal(validateNetworkPolicySpec({ egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['11.0.0.0/16'] } }] }] }).length, 1);
  assert.deepEqual(validateNetworkPolicySpec({ egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } }] }] }), []);
  assert.deepEqual(validateNetworkPolicySpec({ egress: [{ to: [{ ipBlock: { cidr: '2001:db8::/32', except: ['2001:db8:1::/48'] } }] }] }), []);
  assert.equal(validateNetworkPolicySpec({ egress: [{ ports: [{ port: 80, endPort: 79 }] }] }).length, 1);
  assert.equal(validateNetworkPolicySpec({ egress: [{ ports: [{ protocol: 'ICMP' }] }] }).length, 1);
  assert.throws(() => validateNetworkPolicySpec({ egress: {} }), DecodeError);
  assert.throws(() => validateNetworkPolicySpec({ podSelector: { matchLabels: { a: 1 } } }), DecodeError);
});

test('network policy defaults', () => {
  const np = { spec: { podSelector: { matchLabels: {} }, egress: [], bogus: 1 } };
  assert.deepEqual(defaultNetworkPolicy(np), ['spec.bogus']);
  assert.deepEqual(np, { spec: { podSelector: {}, policyTypes: ['Ingress'] } });
});
