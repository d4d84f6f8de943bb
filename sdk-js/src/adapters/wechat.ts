import type { Adapter } from '../adapter.js';
import { type MiniProgramApi, miniProgramAdapter } from './miniprogram.js';

declare const wx: MiniProgramApi | undefined;

/** WeChat mini-program: wx.connectSocket and wx.getStorageSync / setStorageSync. */
export function wechatAdapter(api: MiniProgramApi | undefined = typeof wx !== 'undefined' ? wx : undefined): Adapter {
  return miniProgramAdapter('wechat', api as MiniProgramApi);
}
