export * from './compose.js';
export * from './config.js';
export { runEvaluator } from './main.js';
export { Evaluator, type EvaluatorOptions, type AlertEngine } from './evaluator.js';
export { parseMetadata, type RuleMetadata, type RuleSeverity } from './policy-engine.js';
export * from './tuning.js';
export { TuningWatcher, type TuningWatcherOptions } from './tuning-watcher.js';
