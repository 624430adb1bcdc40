export * from './compose.js';
export * from './config.js';
export { runResponder } from './main.js';
