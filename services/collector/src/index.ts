export * from './compose.js';
export * from './config.js';
export { runCollector } from './main.js';
