// Turns the shared kube config keys into a loaded KubeConfig, or undefined when none is configured; and the
// per-request deadline every stage's API calls carry.
import type { ConfigurationOptions, ObservableMiddleware } from '@kubernetes/client-node';
// The client's own Observable stand-in (its package has no exports map): per-call middleware must return one.
import { of } from '@kubernetes/client-node/dist/gen/rxjsStub.js';
import type { KubeKeyValues } from './common-config.js';
import { loadKubeConfig, type LoadedKubeConfig } from './kube-config.js';

export function kubeFromConfig(cfg: KubeKeyValues): LoadedKubeConfig | undefined {
  return loadKubeConfig({
    kubeconfigPath: cfg.kubeconfig,
    kubeconfigList: cfg.kubeconfigList,
    ...(cfg.kubeContext !== '' && { context: cfg.kubeContext }),
    inCluster: { host: cfg.kubernetesServiceHost, port: cfg.kubernetesServicePort },
  });
}

/**
 * Per-request options that abort the request after timeoutMs, keeping the kubeconfig's own (auth) middleware. The
 * generated clients have no deadline of their own: an API server that accepts the connection and never answers
 * would hold the call forever.
 */
export function deadlineOptions(timeoutMs: number): ConfigurationOptions<ObservableMiddleware> {
  const deadline: ObservableMiddleware = {
    pre: (req) => {
      req.setSignal(AbortSignal.timeout(timeoutMs));
      return of(req);
    },
    post: (res) => of(res),
  };
  return { middleware: [deadline], middlewareMergeStrategy: 'append' };
}
