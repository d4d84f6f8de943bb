import type { Adapter } from '../adapter.js';
import { type MiniProgramApi, miniProgramAdapter } from './miniprogram.js';

declare const qq: MiniProgramApi | undefined;

/** QQ mini-program: qq.connectSocket and qq.getStorageSync / setStorageSync. */
export function qqAdapter(api: MiniProgramApi | undefined = typeof qq !== 'undefined' ? qq : undefined): Adapter {
  return miniProgramAdapter('qq', api as MiniProgramApi);
}
