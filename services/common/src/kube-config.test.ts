import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { loadKubeConfig } from './kube-config.js';

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'kube-config-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function kubeconfig(opts: { cluster: string; server: string; context: string; user?: string; namespace?: string; current?: string }): string {
  const user = opts.user ?? `${opts.cluster}-user`;
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: opts.cluster, cluster: { server: opts.server } }],
    users: [{ name: user, user: { token: `token-${user}` } }],
    contexts: [{ name: opts.context, context: { cluster: opts.cluster, user, ...(opts.namespace ? { namespace: opts.namespace } : {}) } }],
    ...(opts.current === undefined ? {} : { 'current-context': opts.current }),
  });
}

async function serviceAccount(dir: string, files: { token?: string; ca?: boolean; namespace?: string }): Promise<string> {
  const sa = join(dir, 'sa');
  await mkdir(sa);
  if (files.token !== undefined) await writeFile(join(sa, 'token'), files.token);
  if (files.ca === true) await writeFile(join(sa, 'ca.crt'), '-----BEGIN CERTIFICATE-----\n');
  if (files.namespace !== undefined) await writeFile(join(sa, 'namespace'), files.namespace);
  return sa;
}

test('nothing configured is undefined', () => {
  assert.equal(loadKubeConfig({}), undefined);
  assert.equal(loadKubeConfig({ kubeconfigPath: '', kubeconfigList: '', inCluster: { host: '', port: '' } }), undefined);
  assert.equal(loadKubeConfig({ kubeconfigList: `/nonexistent/a${delimiter}/nonexistent/b` }), undefined);
  assert.equal(loadKubeConfig({ inCluster: { host: '10.0.0.1' } }), undefined, 'host without port');
});

test('an explicit path wins over the list and in-cluster', async (t) => {
  const dir = await tempDir(t);
  const explicit = join(dir, 'explicit');
  const listed = join(dir, 'listed');
  await writeFile(explicit, kubeconfig({ cluster: 'a', server: 'https://a.example:6443', context: 'a', namespace: 'team-a', current: 'a' }));
  await writeFile(listed, kubeconfig({ cluster: 'b', server: 'https://b.example:6443', context: 'b', current: 'b' }));
  const sa = await serviceAccount(dir, { token: 't', ca: true });
  const loaded = loadKubeConfig({ kubeconfigPath: explicit, kubeconfigList: listed, inCluster: { host: '10.0.0.1', port: '443', serviceAccountDir: sa } });
  assert.equal(loaded?.source, 'kubeconfig');
  assert.equal(loaded?.server, 'https://a.example:6443');
  assert.equal(loaded?.namespace, 'team-a');
  const fromList = loadKubeConfig({ kubeconfigList: listed, inCluster: { host: '10.0.0.1', port: '443', serviceAccountDir: sa } });
  assert.equal(fromList?.source, 'kubeconfig-list');
  assert.equal(fromList?.server, 'https://b.example:6443');
});

test('a KUBECONFIG-style list merges first-wins and skips missing files', async (t) => {
  const dir = await tempDir(t);
  const first = join(dir, 'first');
  const second = join(dir, 'second');
  await writeFile(first, kubeconfig({ cluster: 'shared', server: 'https://first.example', context: 'one' }));
  await writeFile(second, kubeconfig({ cluster: 'shared', server: 'https://second.example', context: 'two', user: 'other', current: 'two' }));
  const loaded = loadKubeConfig({ kubeconfigList: [join(dir, 'missing'), first, second].join(delimiter) });
  assert.ok(loaded);
  // current-context comes from the first file that sets one (the second); the cluster "shared" from the first.
  assert.equal(loaded.kubeConfig.getCurrentContext(), 'two');
  assert.equal(loaded.server, 'https://first.example');
  assert.deepEqual(loaded.kubeConfig.getContexts().map((c) => c.name), ['one', 'two']);
  const other = loadKubeConfig({ kubeconfigList: [first, second].join(delimiter), context: 'one' });
  assert.equal(other?.kubeConfig.getCurrentContext(), 'one');
});

test('a configured but broken source is CONFIG_INVALID, not undefined', async (t) => {
  const dir = await tempDir(t);
  const garbage = join(dir, 'garbage');
  await writeFile(garbage, 'clusters: [ this is not yaml');
  const noCurrent = join(dir, 'no-current');
  await writeFile(noCurrent, kubeconfig({ cluster: 'a', server: 'https://a', context: 'a' }));
  const isInvalid = (err: unknown): boolean => (err as { code?: unknown }).code === 'CONFIG_INVALID';
  assert.throws(() => loadKubeConfig({ kubeconfigPath: join(dir, 'missing') }), isInvalid);
  assert.throws(() => loadKubeConfig({ kubeconfigPath: garbage }), isInvalid);
  assert.throws(() => loadKubeConfig({ kubeconfigPath: noCurrent }), isInvalid);
  assert.throws(() => loadKubeConfig({ kubeconfigPath: noCurrent, context: 'nope' }), isInvalid);
  assert.equal(loadKubeConfig({ kubeconfigPath: noCurrent, context: 'a' })?.server, 'https://a');
  const saNoCa = await serviceAccount(dir, { token: 't' });
  assert.throws(() => loadKubeConfig({ inCluster: { host: '10.0.0.1', port: '443', serviceAccountDir: saNoCa } }), isInvalid);
});

test('in-cluster: https to the service, token file auth, the service account namespace', async (t) => {
  const dir = await tempDir(t);
  const sa = await serviceAccount(dir, { token: 'sa-token', ca: true, namespace: 'palisade\n' });
  const loaded = loadKubeConfig({ inCluster: { host: 'fd00::1', port: '443', serviceAccountDir: sa } });
  assert.ok(loaded);
  assert.equal(loaded.source, 'in-cluster');
  assert.equal(loaded.server, 'https://[fd00::1]:443');
  assert.equal(loaded.namespace, 'palisade');
  const init = await loaded.kubeConfig.applyToFetchOptions({});
  // applyToFetchOptions builds node-fetch Headers, which the RequestInit type only knows as HeadersInit.
  const headers = init.headers as unknown as { get(name: string): string | null };
  assert.equal(headers.get('authorization'), 'Bearer sa-token');
  const noToken = await serviceAccount(join(dir, 'sa'), {});
  assert.equal(loadKubeConfig({ inCluster: { host: '10.0.0.1', port: '443', serviceAccountDir: noToken } }), undefined);
});
