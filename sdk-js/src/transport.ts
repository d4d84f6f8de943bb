import { WebSocket as EngineWebSocket } from 'socket.io-client';
import type { WebSocketLike } from './adapter.js';

/**
 * A socket.io-client (engine.io) WebSocket transport whose socket comes from
 * the adapter: wx.connectSocket, qq.connectSocket, cc's WebSocket... Passed
 * to socket.io-client as `transports: [transport]`.
 */
export function adapterTransport(create: (url: string) => WebSocketLike): typeof EngineWebSocket {
  // engine.io-client's WebSocket transport does the framing, pings and
  // close handling; only the socket constructor and the write differ.
  class AdapterWebSocket extends EngineWebSocket {
    createSocket(uri: string): WebSocket {
      return create(uri) as unknown as WebSocket;
    }
    doWrite(_packet: unknown, data: string | ArrayBuffer): void {
      (this as unknown as { ws: WebSocketLike }).ws.send(data);
    }
  }
  return AdapterWebSocket;
}
