import { sys } from 'cc';
import type { Adapter, WebSocketLike } from 'courier-sdk/core';

type WebSocketCtor = new (url: string) => WebSocketLike;

/**
 * Cocos Creator: sys.localStorage for state, and cc's WebSocket on native
 * (jsb.WebSocket, also the global WebSocket there) or the browser's on web.
 */
export function cocosAdapter(): Adapter {
  return {
    name: 'cocos',
    storage: {
      getItem: (key) => sys.localStorage.getItem(key),
      setItem: (key, value) => sys.localStorage.setItem(key, value),
    },
    createWebSocket(url) {
      const g = globalThis as { jsb?: { WebSocket?: WebSocketCtor }; WebSocket?: WebSocketCtor };
      const Ctor = (sys.isNative && g.jsb?.WebSocket) || g.WebSocket;
      if (!Ctor) throw new Error('courier: no WebSocket in this cocos runtime');
      const ws = new Ctor(url);
      ws.binaryType = 'arraybuffer';
      return ws;
    },
  };
}
