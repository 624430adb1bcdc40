// The embedded pipeline (`palisade embedded`) as a test process whose stdout alerts are read back, and the wait for
// one rule's alert naming one container: what the rule-trigger and evasion tests share.
import { waitFor } from '@palisade/common/testing';
import { startService, type ServiceProcess } from './service-process.js';

export interface AlertLine {
  ruleId?: string;
  message?: string;
  event?: { pod?: { containerId?: string } };
}

export class EmbeddedAlerts {
  private pipeline: ServiceProcess | undefined;

  async start(): Promise<void> {
    this.pipeline = await startService('embedded', 'services/palisade/dist/main.js', ['embedded', '--log-level', 'warn']);
  }

  async stop(): Promise<void> {
    await this.pipeline?.stop();
  }

  /** Every alert the pipeline has printed so far. */
  alerts(): AlertLine[] {
    return (this.pipeline?.stdoutLines ?? []).filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as AlertLine);
  }

  /** Resolves with `rule`'s first alert for container `id`. */
  waitForAlert(rule: string, id: string, timeoutMs: number): Promise<AlertLine> {
    return waitFor(`${rule}'s alert for container ${id.slice(0, 12)}`,
      () => this.alerts().find((a) => a.ruleId === rule && a.event?.pod?.containerId === id), { timeoutMs });
  }
}
