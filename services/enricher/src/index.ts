export * from './compose.js';
export * from './config.js';
export { runEnricher } from './main.js';
export { Enricher, keyOf, type EnricherOptions, type PodDirectory, type ContainerIdentity } from './enricher.js';
