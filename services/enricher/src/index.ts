export * from './compose.js';
export * from './config.js';
export { runEnricher } from './main.js';
