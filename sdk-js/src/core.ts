// The environment-free core: pass an adapter explicitly.
import type { Adapter } from './adapter.js';
import { CourierClient, type ConnectOptions } from './client.js';

export { CourierClient } from './client.js';
export type { ConnectOptions, State, StateDetail, MessageHandler, AnyHandler, Gap, Meta } from './client.js';
export { type Adapter, type KVStorage, type WebSocketLike, memoryStorage, deviceId, randomId } from './adapter.js';
export { CourierError, ErrorCodes, errorTable, type ErrorCode, type ErrorBody } from './errors.js';
export { backoffDelay, type BackoffOptions } from './backoff.js';
export { Inbox } from './inbox.js';
export { adapterTransport } from './transport.js';
export { tokenSubject } from './jwt.js';

/** Opens a client with the given adapter. */
export function connectWith(adapter: Adapter, opts: ConnectOptions): CourierClient {
  return new CourierClient({ ...opts, adapter: opts.adapter ?? adapter });
}
