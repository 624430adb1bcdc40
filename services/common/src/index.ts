export { pb, palisade } from './proto.js';
export * from './bus.js';
export * from './errors.js';
