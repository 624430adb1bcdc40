export * from './compose.js';
export * from './config.js';
export { runEvaluator } from './main.js';
