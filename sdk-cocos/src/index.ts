// courier-sdk-cocos: the courier-sdk core (bundled in at build time) with a
// cocos adapter and the CourierClient component.
import { CourierClient as Client, type ConnectOptions } from 'courier-sdk/core';
import { cocosAdapter } from './adapter.js';

export * from 'courier-sdk/core';
export { CourierClient as Client } from 'courier-sdk/core';
export { cocosAdapter } from './adapter.js';
export { CourierClient, CourierEvent, type CourierMessage } from './component.js';

/** Opens a client with the cocos adapter (outside the component). */
export function connect(opts: ConnectOptions): Client {
  return new Client({ ...opts, adapter: opts.adapter ?? cocosAdapter() });
}
