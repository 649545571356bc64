// Must NOT compile: scripts/wasm.sh checks that tsc rejects each line marked below, so the
// typings really constrain callers.
import { startSpan, init } from '../pkg/index.js';

startSpan('x', { kind: 'sideways' }); // invalid kind
startSpan('x', { attributes: { nested: { a: 1 } } }); // invalid attribute value
await init({ samplingRate: 'high' }); // invalid field type
declare const numeric: { OTEL_SERVICE_NAME: number; ORDERS: object };
await init(numeric); // an environment's OTEL_* variable not a string
interface LowerCase {
  apiToken: string;
}
declare const lower: LowerCase;
await init(lower); // neither a TracingConfig nor an environment (no name in capitals)
await init({ serviceName: 'svc', OTEL_BACKEND: 'none' }); // config and environment mixed
