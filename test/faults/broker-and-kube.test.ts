// Fault drills (cases.ts): kill -9 the broker mid-stream (restarted on the same data), then a Kubernetes API brownout
// while the responder acts.
import { test } from 'node:test';
import { killBroker, kubeBrownout, skip, useDrill } from './cases.js';

const drill = useDrill();

test('kill -9 the broker mid-stream and restart it on the same data: no alert lost, no write twice', { skip },
  () => killBroker(drill()));

test('a Kubernetes API brownout (500s, hangs, answers lost after the write) while the responder acts', { skip },
  () => kubeBrownout(drill()));
