// Fault drills (cases.ts): kill -9 the responder, then the evaluator, mid-stream, each restarted at once.
import { test } from 'node:test';
import { killStage, skip, useDrill } from './cases.js';

const drill = useDrill();

test('kill -9 the responder mid-stream and restart it: no alert lost, every alert audited, no write twice', { skip },
  () => killStage(drill(), 'responder'));

test('kill -9 the evaluator mid-stream and restart it: no alert lost, every alert audited, no write twice', { skip },
  () => killStage(drill(), 'evaluator'));
