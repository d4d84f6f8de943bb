// The self-contained bundle for WeChat / QQ mini-programs (package.json
// "miniprogram" field): connect() picks qq when present, else wx.
import type { ConnectOptions } from './client.js';
import { CourierClient } from './client.js';
import { qqAdapter } from './adapters/qq.js';
import { wechatAdapter } from './adapters/wechat.js';

export * from './core.js';
export { wechatAdapter } from './adapters/wechat.js';
export { qqAdapter } from './adapters/qq.js';
export { miniProgramAdapter } from './adapters/miniprogram.js';

declare const qq: unknown;

export function connect(opts: ConnectOptions): CourierClient {
  const adapter = opts.adapter ?? (typeof qq !== 'undefined' ? qqAdapter() : wechatAdapter());
  return new CourierClient({ ...opts, adapter });
}
