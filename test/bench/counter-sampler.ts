// Polls one Prometheus counter of a service, so a rate can be taken over a window whose end is only known afterwards
// (when the last alert of a load arrived).
import { scrape } from '../support/service-process.js';

export class CounterSampler {
  private readonly samples: { ms: number; value: number }[] = [];
  private readonly timer: NodeJS.Timeout;
  private polling = false;

  constructor(private readonly port: number, private readonly metric: string, intervalMs = 200) {
    this.timer = setInterval(() => { void this.poll(); }, intervalMs);
  }

  /** Takes a sample now (and keeps it); resolves with the value. */
  async sampleNow(): Promise<number> {
    const ms = Date.now();
    const value = await scrape(this.port, this.metric);
    this.samples.push({ ms, value });
    return value;
  }

  /**
   * The first sample taken at or after `ms`: an upper bound on the counter at that time, off by what arrived in one
   * poll interval. Takes a fresh one if there is none yet.
   */
  async valueAt(ms: number): Promise<number> {
    let best: { ms: number; value: number } | undefined;
    for (const x of this.samples) if (x.ms >= ms && (best === undefined || x.ms < best.ms)) best = x;
    return best !== undefined ? best.value : this.sampleNow();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      await this.sampleNow();
    } catch { /* a missed sample only widens the bound; the service's own failure shows elsewhere */ } finally {
      this.polling = false;
    }
  }
}
