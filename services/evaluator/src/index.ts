export * from './compose.js';
export * from './config.js';
export { runEvaluator } from './main.js';
export { Evaluator, type EvaluatorOptions, type AlertEngine } from './evaluator.js';
export { ActivePolicy, type PollResult } from './active-policy.js';
export { AlertDeduper, dedupKeyOf, defaultKey } from './alert-dedup.js';
export { parseBundle, readTarGz, type Bundle, type BundleRejectReason } from './bundle.js';
