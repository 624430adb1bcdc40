// The Helm chart under test (deploy/helm/palisade) and the helm binary set-up builds (scripts/fetch-kube.mjs, next to
// kube-apiserver in .cache/kube/<stamp>/bin, as test/support/kube-cluster.ts finds it). Renders are parsed into
// objects, so tests look at the manifests the API server would get, not at their text.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { REPO_ROOT } from './service-process.js';

export const CHART_DIR = join(REPO_ROOT, 'deploy/helm/palisade');

function kubeBinDir(): string | undefined {
  const current = join(REPO_ROOT, '.cache/kube/current');
  if (!existsSync(current)) return undefined;
  return join(REPO_ROOT, '.cache/kube', readFileSync(current, 'utf8').trim(), 'bin');
}

/** A binary set-up built next to helm (kubectl, kube-apiserver). */
export function kubeTool(name: string): string {
  const bin = kubeBinDir();
  if (bin === undefined) throw new Error(helmUnavailableReason());
  return join(bin, name);
}

/** Why helm cannot run here, or undefined. */
export function helmUnavailableReason(): string | undefined {
  const bin = kubeBinDir();
  if (bin === undefined) return 'helm is not built: node scripts/fetch-kube.mjs (setup does)';
  if (!existsSync(join(bin, 'helm'))) return `${join(bin, 'helm')} is missing: node scripts/fetch-kube.mjs`;
  return undefined;
}

export interface HelmResult { status: number; stdout: string; stderr: string }

/** Runs helm with its own empty config and cache dirs (no repositories, no plugins, nothing from $HOME). */
export function helm(args: string[]): HelmResult {
  const bin = kubeBinDir();
  if (bin === undefined) throw new Error(helmUnavailableReason());
  const home = mkdtempSync(join(tmpdir(), 'palisade-helm-'));
  try {
    const r = spawnSync(join(bin, 'helm'), args, {
      encoding: 'utf8', timeout: 120_000,
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: home, HELM_CONFIG_HOME: join(home, 'config'),
        HELM_CACHE_HOME: join(home, 'cache'), HELM_DATA_HOME: join(home, 'data') },
    });
    return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

/** The Kubernetes version the tests' API server runs (helm template checks the chart's kubeVersion against it). */
export function kubeVersion(): string {
  const bin = kubeBinDir();
  if (bin === undefined) throw new Error(helmUnavailableReason());
  const r = spawnSync(join(bin, 'kube-apiserver'), ['--version'], { encoding: 'utf8' });
  const m = /v(\d+\.\d+\.\d+)/.exec(r.stdout);
  if (m?.[1] === undefined) throw new Error(`kube-apiserver --version: ${r.stdout}${r.stderr}`);
  return m[1];
}

export interface RenderOptions {
  release?: string;
  namespace?: string;
  /** Values, given to helm as a file (-f), so types (numbers, lists) arrive as written. */
  values?: Record<string, unknown>;
}

/** helm template of the chart with these values; the raw result, for tests that expect a failure. */
export function helmTemplate(opts: RenderOptions = {}): HelmResult {
  const dir = mkdtempSync(join(tmpdir(), 'palisade-values-'));
  try {
    const file = join(dir, 'values.json');
    writeFileSync(file, JSON.stringify(opts.values ?? {}));
    return helm(['template', opts.release ?? 'palisade', CHART_DIR, '--namespace', opts.namespace ?? 'palisade',
      '--kube-version', kubeVersion(), '-f', file]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [key: string]: unknown;
}

/** Renders and parses; throws with helm's stderr when it fails. */
export function render(opts: RenderOptions = {}): { yaml: string; objects: K8sObject[] } {
  const r = helmTemplate(opts);
  if (r.status !== 0) throw new Error(`helm template failed (${r.status}):\n${r.stderr}`);
  const objects = parseAllDocuments(r.stdout).map((d) => {
    if (d.errors.length > 0) throw new Error(`rendered YAML does not parse: ${d.errors[0]?.message}`);
    return d.toJS() as K8sObject | null;
  }).filter((o): o is K8sObject => o !== null);
  return { yaml: r.stdout, objects };
}

/** The one object of this kind and name; throws naming what is there when it is missing. */
export function find(objects: K8sObject[], kind: string, name: string): K8sObject {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  if (o === undefined) throw new Error(`no ${kind} ${name} among ${objects.map((x) => `${x.kind}/${x.metadata.name}`).join(', ')}`);
  return o;
}
