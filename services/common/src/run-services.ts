// The tail of every main.ts: serve /metrics and health, start the services, and install the one shutdown handler.
// Services are started in the order given and stopped in reverse, so pass consumers before the stages that feed them.
import { OpsServer } from './http-server.js';
import { installShutdown } from './lifecycle.js';
import type { Service, ServiceState } from './lifecycle.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';

export interface RunnableService extends Service {
  onFail(listener: (err: unknown) => void): void;
}

export interface RunServicesOptions {
  logger: Logger;
  metrics: Metrics;
  metricsHost: string;
  metricsPort: number;
  shutdownDeadlineMs: number;
  services: RunnableService[];
  /** Runs after every service stopped: disconnect the bus, close the kernel handles. */
  cleanup: () => Promise<void>;
}

export async function runServices(opts: RunServicesOptions): Promise<{ metricsPort: number }> {
  const states = (): Record<string, ServiceState> =>
    Object.fromEntries(opts.services.map((s) => [s.name, s.state]));
  const details = (): Record<string, Record<string, unknown>> => Object.fromEntries(
    opts.services.flatMap((s) => (s.detail === undefined ? [] : [[s.name, s.detail()] as const])));
  const reasons = (): Record<string, string> => Object.fromEntries(opts.services.flatMap((s) => {
    const why = s.notReady?.();
    return why === undefined ? [] : [[s.name, why] as const];
  }));
  const ops = new OpsServer({
    host: opts.metricsHost, port: opts.metricsPort, registry: opts.metrics.registry, states, details, reasons,
  });
  const { port } = await ops.start();
  opts.logger.info('serving /metrics, /healthz, /readyz', { host: opts.metricsHost, port });
  const stopAll = async (): Promise<void> => {
    for (const s of [...opts.services].reverse()) {
      try { await s.stop(); } catch (err) { opts.logger.error('stop failed', { service: s.name, err }); }
    }
    await opts.cleanup();
    await ops.stop();
  };
  const shutdown = installShutdown({ logger: opts.logger, deadlineMs: opts.shutdownDeadlineMs, stop: stopAll });
  for (const s of opts.services) s.onFail((err) => shutdown(`${s.name} failed`, err));
  for (const s of opts.services) {
    await s.start();
    opts.logger.info('service ready', { service: s.name });
  }
  return { metricsPort: port };
}
