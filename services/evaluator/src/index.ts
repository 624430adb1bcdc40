export * from './compose.js';
export * from './config.js';
export { runEvaluator } from './main.js';
export { Evaluator, type EvaluatorOptions, type AlertEngine } from './evaluator.js';
export { PolicyEngine, type RuleMetadata } from './policy-engine.js';
