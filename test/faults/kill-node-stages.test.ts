// Fault drills (cases.ts): kill -9 the enricher, then the collector, mid-stream, each restarted at once.
import { test } from 'node:test';
import { killCollector, killStage, skip, useDrill } from './cases.js';

const drill = useDrill();

test('kill -9 the enricher mid-stream and restart it: no alert lost, every alert audited, no write twice', { skip },
  () => killStage(drill(), 'enricher'));

test('kill -9 the collector mid-stream and restart it: every open is alerted or inside the visibility gap it reports', { skip },
  () => killCollector(drill()));
