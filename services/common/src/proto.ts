// The generated protobuf classes (scripts/gen-proto.mjs writes src/gen/ from proto/), under a short name.
import './protobuf-numbers.js'; // must run before the generated module is evaluated
import { palisade } from './gen/palisade.js';

export const pb = palisade.v1;
export { palisade };
