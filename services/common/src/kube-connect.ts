// Turns the shared kube config keys into a loaded KubeConfig, or undefined when none is configured.
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
