// courier-sdk: connect({url, token}) in a browser; pass `adapter` elsewhere.
import { browserAdapter } from './adapters/browser.js';
import type { ConnectOptions } from './client.js';
import { CourierClient } from './client.js';

export * from './core.js';
export { browserAdapter } from './adapters/browser.js';
export { wechatAdapter } from './adapters/wechat.js';
export { qqAdapter } from './adapters/qq.js';
export { miniProgramAdapter, type MiniProgramApi, type SocketTask } from './adapters/miniprogram.js';

/**
 * Opens a client: `connect({ url, token | getToken, device?, adapter? })`.
 * The adapter defaults to the browser's.
 */
export function connect(opts: ConnectOptions): CourierClient {
  return new CourierClient({ ...opts, adapter: opts.adapter ?? browserAdapter() });
}
