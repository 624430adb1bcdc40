// The enricher's composition: the pod cache's metrics as a scrape shows them, read from the cache when scraped.
// (composeEnricher itself runs in every e2e test; identifyContainer's cases are cgroup-path.test.ts's.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Metrics } from '@palisade/common';
import { podCacheMetrics } from './compose.js';
import type { PodCacheCounts } from './pod-cache.js';

test('the pod cache\'s metrics: pods, restarts, resyncs, list errors, watch errors by reason, bad lines, as of the scrape', async () => {
  const counts = {
    size: 3, watchRestarts: 2, resyncs: 1, listErrors: 2, badWatchLines: 0, secondsSinceHeard: 12.5,
    watchErrors: { headers_timeout: 1, idle_timeout: 0, http_status: 0, network: 1 },
  } satisfies PodCacheCounts;
  const metrics = new Metrics();
  podCacheMetrics(metrics, counts);
  const scrape = async (): Promise<Record<string, number>> => {
    const out: Record<string, number> = {};
    for (const m of await metrics.registry.getMetricsAsJSON()) {
      for (const v of m.values) {
        const labels = Object.entries(v.labels).map(([k, l]) => `${k}=${String(l)}`).join(',');
        out[labels === '' ? m.name : `${m.name}{${labels}}`] = v.value;
      }
    }
    return out;
  };
  assert.deepEqual(await scrape(), {
    palisade_enricher_pods: 3,
    palisade_enricher_pod_watch_restarts: 2,
    palisade_enricher_pod_resyncs: 1,
    palisade_enricher_pod_list_errors: 2,
    'palisade_enricher_pod_watch_errors{reason=headers_timeout}': 1,
    'palisade_enricher_pod_watch_errors{reason=idle_timeout}': 0,
    'palisade_enricher_pod_watch_errors{reason=http_status}': 0,
    'palisade_enricher_pod_watch_errors{reason=network}': 1,
    palisade_enricher_pod_watch_bad_lines: 0,
    palisade_enricher_pod_watch_silence_seconds: 12.5,
  });
  counts.watchErrors.idle_timeout = 4;
  counts.badWatchLines = 7;
  counts.secondsSinceHeard = 0.5;
  const later = await scrape();
  assert.equal(later['palisade_enricher_pod_watch_errors{reason=idle_timeout}'], 4);
  assert.equal(later['palisade_enricher_pod_watch_bad_lines'], 7);
  assert.equal(later['palisade_enricher_pod_watch_silence_seconds'], 0.5);
});
