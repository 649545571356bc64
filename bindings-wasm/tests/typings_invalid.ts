// Must NOT compile: scripts/wasm.sh checks that tsc rejects each line marked below, so the
// typings really constrain callers.
import { startSpan, init } from '../pkg/index.js';

startSpan('x', { kind: 'sideways' }); // invalid kind
startSpan('x', { attributes: { nested: { a: 1 } } }); // invalid attribute value
await init({ samplingRate: 'high' }); // invalid field type
