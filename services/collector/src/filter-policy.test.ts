import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PalisadeError } from '@palisade/common';
import { parseTracingPolicy } from './filter-policy.js';

const GOOD = `
apiVersion: palisade.dev/v1alpha1
kind: TracingPolicy
metadata:
  name: quiet-and-strict
spec:
  selectors:
    - binaries: [kubelet, containerd]
      action: Drop
    - pathPrefixes: [/etc/kubernetes/pki/, /root/.ssh/]
      action: Sigkill
    - pathPrefixes: [/proc/]
      action: Drop
`;

function rejects(yaml: string, message: RegExp): void {
  assert.throws(
    () => parseTracingPolicy(yaml, 'test.yaml'),
    (err: unknown) => err instanceof PalisadeError && err.code === 'CONFIG_INVALID' && message.test(err.message),
  );
}

function policy(selectors: string): string {
  return `apiVersion: palisade.dev/v1alpha1\nkind: TracingPolicy\nmetadata: {name: p}\nspec:\n  selectors:\n${selectors}`;
}

test('a policy becomes the kernel filter: binaries by comm, path prefixes, actions mapped', () => {
  const p = parseTracingPolicy(GOOD);
  assert.equal(p.name, 'quiet-and-strict');
  assert.deepEqual(p.filter, {
    binaries: [
      { comm: 'kubelet', action: 'drop' },
      { comm: 'containerd', action: 'drop' },
    ],
    pathPrefixes: [
      { prefix: '/etc/kubernetes/pki/', action: 'sigkill' },
      { prefix: '/root/.ssh/', action: 'sigkill' },
      { prefix: '/proc/', action: 'drop' },
    ],
  });
});

test('an empty selector list is a valid policy that filters nothing', () => {
  const empty = 'apiVersion: palisade.dev/v1alpha1\nkind: TracingPolicy\nmetadata: {name: p}\nspec: {selectors: []}\n';
  assert.deepEqual(parseTracingPolicy(empty).filter, {
    binaries: [],
    pathPrefixes: [],
  });
});

test('errors name the source, the field and what is wrong', () => {
  rejects(GOOD.replace('v1alpha1', 'v1'), /^test\.yaml: apiVersion must be palisade\.dev\/v1alpha1, got "palisade\.dev\/v1"/);
  rejects(GOOD.replace('kind: TracingPolicy', 'kind: Policy'), /kind must be TracingPolicy/);
  rejects(GOOD.replace('name: quiet-and-strict', 'name: ""'), /metadata\.name must be a non-empty string/);
  rejects(GOOD.replace('action: Drop', 'action: Kill'), /spec\.selectors\[0\]\.action must be Drop or Sigkill, got "Kill"/);
  rejects(policy('    - pathPrefix: [/tmp]\n      action: Drop\n'), /spec\.selectors\[0\]\.pathPrefix is not a known field/);
  rejects(policy('    - action: Drop\n'), /spec\.selectors\[0\] needs binaries or pathPrefixes/);
  rejects(policy('    - binaries: [sh]\n      pathPrefixes: [/tmp]\n      action: Sigkill\n'), /both binaries and pathPrefixes/);
  rejects(policy('    - binaries: []\n      action: Drop\n'), /binaries must be a non-empty list/);
  rejects(policy('    - binaries: [/usr/bin/nc]\n      action: Sigkill\n'), /binaries\[0\] '\/usr\/bin\/nc' is a path.*write 'nc'/);
  rejects(policy('    - binaries: [kube-controller-manager]\n      action: Drop\n'), /only the first 15/);
  rejects(policy('    - pathPrefixes: [tmp/x]\n      action: Drop\n'), /pathPrefixes\[0\] 'tmp\/x' must be an absolute path/);
  rejects(policy(`    - pathPrefixes: [/${'a'.repeat(64)}]\n      action: Drop\n`), /is 65 bytes; at most 64/);
  const many = Array.from({ length: 17 }, (_, i) => `/p${i}`).join(', ');
  rejects(policy(`    - pathPrefixes: [${many}]\n      action: Drop\n`), /17 path prefixes in all; the kernel filter holds 16/);
  rejects('apiVersion: [unclosed', /YAML is malformed/);
  rejects(`${GOOD}\n---\n${GOOD}`, /exactly one policy, found 2/);
  rejects('- a\n- b\n', /document must be a mapping/);
});
