import type { Adapter, KVStorage, WebSocketLike } from '../adapter.js';

/** The subset of wx / qq that the adapters use (same shape on both). */
export interface MiniProgramApi {
  connectSocket(opts: {
    url: string;
    protocols?: string[];
    tcpNoDelay?: boolean;
    success?: () => void;
    fail?: (err: { errMsg?: string }) => void;
  }): SocketTask;
  getStorageSync(key: string): unknown;
  setStorageSync(key: string, value: unknown): void;
  onNetworkStatusChange?(cb: (res: { isConnected: boolean }) => void): void;
  onAppShow?(cb: () => void): void;
  request?(opts: {
    url: string;
    method?: string;
    dataType?: string;
    success?: (res: { statusCode: number; data: unknown }) => void;
    fail?: (err: { errMsg?: string }) => void;
  }): void;
}

export interface SocketTask {
  send(opts: { data: string | ArrayBuffer; fail?: (err: { errMsg?: string }) => void }): void;
  close(opts?: { code?: number; reason?: string }): void;
  onOpen(cb: (res?: unknown) => void): void;
  onClose(cb: (res: { code?: number; reason?: string }) => void): void;
  onError(cb: (res: { errMsg?: string }) => void): void;
  onMessage(cb: (res: { data: string | ArrayBuffer }) => void): void;
}

/** A W3C-like WebSocket over a mini-program SocketTask. */
class TaskWebSocket implements WebSocketLike {
  binaryType = 'arraybuffer';
  readyState = 0;
  onopen: WebSocketLike['onopen'] = null;
  onclose: WebSocketLike['onclose'] = null;
  onmessage: WebSocketLike['onmessage'] = null;
  onerror: WebSocketLike['onerror'] = null;
  private task: SocketTask;

  constructor(api: MiniProgramApi, url: string) {
    this.task = api.connectSocket({
      url,
      tcpNoDelay: true,
      fail: (err) => this.fail(err),
    });
    this.task.onOpen(() => {
      this.readyState = 1;
      this.onopen?.();
    });
    this.task.onMessage((res) => this.onmessage?.({ data: res.data }));
    this.task.onError((err) => this.onerror?.(err));
    this.task.onClose((res) => this.closed(res?.code, res?.reason));
  }

  private fail(err: { errMsg?: string }): void {
    this.onerror?.(err);
    this.closed(1006, err?.errMsg);
  }

  private closed(code?: number, reason?: string): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }

  send(data: string | ArrayBuffer | ArrayBufferView): void {
    const body = ArrayBuffer.isView(data)
      ? (data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer)
      : data;
    this.task.send({ data: body, fail: (err) => this.onerror?.(err) });
  }

  close(code = 1000, reason = ''): void {
    if (this.readyState >= 2) return;
    this.readyState = 2;
    this.task.close({ code, reason });
  }
}

/** Storage on getStorageSync / setStorageSync. */
export function miniProgramStorage(api: MiniProgramApi): KVStorage {
  return {
    getItem(key) {
      const v = api.getStorageSync(key);
      return typeof v === 'string' && v !== '' ? v : null;
    },
    setItem(key, value) {
      api.setStorageSync(key, value);
    },
  };
}

/** An adapter for any mini-program platform with the wx-style API. */
export function miniProgramAdapter(name: string, api: MiniProgramApi): Adapter {
  if (!api || typeof api.connectSocket !== 'function') throw new Error(`courier: ${name} API not available`);
  return {
    name,
    storage: miniProgramStorage(api),
    createWebSocket: (url) => new TaskWebSocket(api, url),
    watchNetwork: api.onNetworkStatusChange ? (cb) => api.onNetworkStatusChange!((res) => cb(!!res?.isConnected)) : undefined,
    watchForeground: api.onAppShow ? (cb) => api.onAppShow!(() => cb()) : undefined,
    fetchJSON: api.request
      ? (url) =>
          new Promise((resolve, reject) =>
            api.request!({
              url,
              method: 'GET',
              dataType: 'json',
              success: (res) => (res.statusCode >= 200 && res.statusCode < 300 ? resolve(res.data) : reject(new Error(`dispatch ${url}: HTTP ${res.statusCode}`))),
              fail: (err) => reject(new Error(err?.errMsg || `dispatch ${url} failed`)),
            }),
          )
      : undefined,
  };
}
