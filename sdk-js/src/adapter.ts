// The adapter is the one seam between the SDK core and an environment
// (browser, WeChat / QQ mini-program, Node, Cocos Creator). A new environment
// is one adapter file: a key-value storage and, when socket.io-client's own
// transports do not work there, a factory for a W3C-like WebSocket.

/** Synchronous key-value storage (localStorage, wx.getStorageSync, a file...). */
export interface KVStorage {
  getItem(key: string): string | null | undefined;
  setItem(key: string, value: string): void;
}

/** The part of the W3C WebSocket that engine.io-client's WebSocket transport uses. */
export interface WebSocketLike {
  binaryType: string;
  onopen: ((ev?: unknown) => void) | null;
  onclose: ((ev: { code?: number; reason?: string }) => void) | null;
  onmessage: ((ev: { data: string | ArrayBuffer }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: string | ArrayBuffer | ArrayBufferView): void;
  close(code?: number, reason?: string): void;
}

export interface Adapter {
  /** A short name for logs and storage keys: "browser", "wechat", "qq", "node", "cocos". */
  readonly name: string;
  /** Where the device id, the de-duplication set and stream positions are kept. */
  readonly storage: KVStorage;
  /**
   * Opens a WebSocket to url. When absent, socket.io-client's own transports
   * are used (the browser's WebSocket / XHR, or the `ws` package in Node).
   */
  createWebSocket?(url: string): WebSocketLike;
  /** GETs a JSON body (the dispatch URL); when absent, fetch() is used. */
  fetchJSON?(url: string): Promise<unknown>;
  /**
   * Calls back with false when the device goes offline and true when it is
   * back online; the client pauses its retries while offline and reconnects
   * at once when back.
   */
  watchNetwork?(cb: (online: boolean) => void): void;
  /** Calls back when the app comes back to the foreground: the client reconnects at once. */
  watchForeground?(cb: () => void): void;
}

/** Storage that lives as long as the process (or page). */
export function memoryStorage(): KVStorage {
  const m = new Map<string, string>();
  return {
    getItem: (k) => (m.has(k) ? (m.get(k) as string) : null),
    setItem: (k, v) => {
      m.set(k, v);
    },
  };
}

/** A random id of 16 hex characters (crypto when available). */
export function randomId(): string {
  const bytes = new Uint8Array(8);
  const c = (typeof globalThis !== 'undefined' ? (globalThis as { crypto?: Crypto }).crypto : undefined);
  if (c && typeof c.getRandomValues === 'function') c.getRandomValues(bytes);
  else for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
  let s = '';
  for (const b of bytes) s += b.toString(16).padStart(2, '0');
  return s;
}

const DEVICE_KEY = 'courier:device';

/** The app's device id, generated once and kept in the adapter's storage. */
export function deviceId(storage: KVStorage): string {
  let id: string | null | undefined;
  try {
    id = storage.getItem(DEVICE_KEY);
  } catch {
    id = null;
  }
  if (typeof id === 'string' && id) return id;
  id = `d-${randomId()}`;
  try {
    storage.setItem(DEVICE_KEY, id);
  } catch {
    // storage full or denied: the id lives as long as this client
  }
  return id;
}
