import { io, type Socket, type ManagerOptions, type SocketOptions } from 'socket.io-client';
import { type Adapter, deviceId } from './adapter.js';
import { type BackoffOptions, backoffDelay } from './backoff.js';
import { Emitter } from './emitter.js';
import { CourierError, ErrorCodes } from './errors.js';
import { Inbox, type Gap, type Meta } from './inbox.js';
import { tokenExpiry, tokenSubject } from './jwt.js';
import { adapterTransport } from './transport.js';

export type { Gap, Meta };

/** connecting → connected → reconnecting → connected … → disconnected | closed */
export type State = 'connecting' | 'connected' | 'reconnecting' | 'disconnected' | 'closed';

export interface StateDetail {
  /** Why the client left "connected": socket.io's reason, or the server's `courier:disconnect` reason. */
  reason?: string;
  /** Reconnect attempt number while reconnecting. */
  attempt?: number;
  /** Delay in ms before the next attempt while reconnecting. */
  delay?: number;
  error?: Error;
}

export type MessageHandler<T = unknown> = (data: T, meta: Meta) => unknown | Promise<unknown>;
export type AnyHandler = (event: string, data: unknown, meta: Meta) => unknown | Promise<unknown>;

export interface ConnectOptions {
  /**
   * Server base URL, e.g. "https://push.example.com" or "ws://127.0.0.1:8080",
   * or several: the client moves to the next on a failed connect or a lost
   * connection, with backoff once every one was tried.
   */
  url?: string | string[];
  /**
   * A URL answering {"endpoints": [URL, ...]}: fetched before the first
   * connect and again after a round in which none answered.
   */
  dispatch?: string;
  /** Start from a random endpoint (spreads clients over the list). */
  shuffle?: boolean;
  /**
   * The client JWT. Without token and getToken the server's auth hook
   * identifies the client from its cookies (a page's own login).
   */
  token?: string;
  /** Called for a token when there is none and whenever the server answers 401. */
  getToken?: () => string | Promise<string>;
  /** Stable device id; generated once and kept in the adapter's storage when absent. */
  device?: string;
  /** Environment adapter (browser by default). */
  adapter?: Adapter;
  /** socket.io path (default "/socket.io/"). */
  path?: string;
  /** Transports when the adapter supplies none (default ["websocket"]). */
  transports?: ('websocket' | 'polling')[];
  /** Reconnect backoff (exponential with jitter). */
  reconnect?: BackoffOptions & { enabled?: boolean };
  /** Ids remembered for de-duplication (default 1000). */
  dedupSize?: number;
  /** Connect timeout in ms (default 10000). */
  connectTimeout?: number;
  /** Default timeout of join/leave/request in ms (default 10000). */
  timeout?: number;
  /** Extra socket.io-client options (advanced). */
  socketOptions?: Partial<ManagerOptions & SocketOptions>;
}

const LOCAL_EVENTS = new Set(['state', 'gap', 'error']);

/** fetch() of a JSON body, where there is a fetch (browsers, Node 18+, Cocos). */
async function defaultFetchJSON(url: string): Promise<unknown> {
  if (typeof fetch !== 'function') throw new Error('no fetch here: give the adapter a fetchJSON');
  const res = await fetch(url);
  if (!res.ok) throw new Error(`dispatch ${url}: HTTP ${res.status}`);
  return res.json();
}

interface Ack {
  ok?: boolean;
  data?: unknown;
  error?: unknown;
}

/** One connection to courier with at-least-once delivery turned into once. */
export class CourierClient {
  /** The underlying socket.io-client socket of the current endpoint (advanced use and tests). */
  socket!: Socket;
  readonly device: string;
  private endpoints: string[] = [];
  private endpoint = -1; // index in endpoints of the current socket
  private tried = 0; // endpoints tried in this round (the connected one counts)
  private moveOn = false; // the next open uses the next endpoint
  private offline = false; // the adapter said the network is gone
  private paused = false; // a retry waits for the network
  private readonly opts: ConnectOptions;
  private readonly adapter: Adapter;
  private readonly local = new Emitter();
  private readonly handlers = new Emitter();
  private readonly anyHandlers = new Set<AnyHandler>();
  private readonly inflight = new Map<string, Promise<boolean>>();
  private inbox?: Inbox;
  private inboxKey = '';
  private token?: string;
  private needToken: boolean;
  private authFailures = 0;
  private attempt = 0;
  private timer?: ReturnType<typeof setTimeout>;
  private refreshTimer?: ReturnType<typeof setTimeout>;
  private serverReason?: string;
  private _state: State = 'connecting';
  private closed = false;

  constructor(opts: ConnectOptions & { adapter: Adapter }) {
    const urls = typeof opts?.url === 'string' ? [opts.url] : Array.isArray(opts?.url) ? opts.url : [];
    if (!opts || (urls.length === 0 && typeof opts.dispatch !== 'string') || urls.some((u) => typeof u !== 'string' || !u)) {
      throw new TypeError('connect: url (a URL or a list of them) or dispatch is required');
    }
    this.opts = opts;
    this.adapter = opts.adapter;
    this.device = opts.device || deviceId(this.adapter.storage);
    this.token = opts.token;
    this.needToken = !opts.token && !!opts.getToken;
    this.setEndpoints(urls);
    if (this.endpoints.length > 0) this.nextSocket();
    this.adapter.watchNetwork?.((online) => this.onNetwork(online));
    this.adapter.watchForeground?.(() => this.reconnectNow('foreground'));
    // listeners registered right after connect() see "connecting"
    Promise.resolve().then(() => {
      this.setState('connecting');
      this.open();
    });
  }

  /** The endpoint in use (or being tried). */
  get url(): string | undefined {
    return this.endpoints[this.endpoint];
  }

  private setEndpoints(urls: string[]): void {
    this.endpoints = [...urls];
    this.endpoint = -1;
    if (this.opts.shuffle && urls.length > 1) this.endpoint = Math.floor(Math.random() * urls.length) - 1;
  }

  /** Makes the socket of the next endpoint, dropping the current one. */
  private nextSocket(): void {
    if (this.socket) {
      this.socket.off();
      this.socket.offAny();
      this.socket.disconnect();
    }
    this.endpoint = (this.endpoint + 1) % this.endpoints.length;
    const transports = this.adapter.createWebSocket
      ? [adapterTransport((u) => this.adapter.createWebSocket!(u))]
      : (this.opts.transports ?? ['websocket']);
    const socket = io(this.endpoints[this.endpoint], {
      path: this.opts.path,
      autoConnect: false,
      reconnection: false, // ours: jittered backoff, endpoints and token refresh
      forceNew: true,
      timeout: this.opts.connectTimeout ?? 10000,
      ...(this.opts.socketOptions ?? {}),
      transports: transports as ManagerOptions['transports'],
      auth: (cb: (auth: object) => void) => cb({ token: this.token, device: this.device }),
    });
    socket.on('connect', () => this.onConnect());
    socket.on('connect_error', (err: Error & { data?: { code?: number } }) => this.onConnectError(err));
    socket.on('disconnect', (reason: string) => this.onDisconnect(reason));
    socket.on('courier:disconnect', (d: { reason?: string }) => {
      this.serverReason = d?.reason;
    });
    socket.onAny((event: string, ...args: unknown[]) => this.onEvent(event, args));
    this.socket = socket;
  }

  /** Asks the dispatch URL for endpoints; false when it gave none. */
  private async dispatch(): Promise<boolean> {
    const fetchJSON = this.adapter.fetchJSON ?? defaultFetchJSON;
    try {
      const body = (await fetchJSON(this.opts.dispatch!)) as { endpoints?: unknown };
      const urls = Array.isArray(body?.endpoints) ? body.endpoints.filter((u): u is string => typeof u === 'string' && u !== '') : [];
      if (urls.length === 0) throw new Error('dispatch answered no endpoints');
      this.setEndpoints(urls);
      this.moveOn = true;
      return true;
    } catch (err) {
      this.local.emit('error', err instanceof Error ? err : new Error(String(err)), { event: 'dispatch' });
      return false;
    }
  }

  /** The current state. */
  get state(): State {
    return this._state;
  }

  /** True while connected. */
  get connected(): boolean {
    return this._state === 'connected';
  }

  /** The user id, read from the token. */
  get user(): string | undefined {
    return tokenSubject(this.token);
  }

  on(event: 'state', fn: (state: State, detail: StateDetail) => void): () => void;
  on(event: 'gap', fn: (gap: Gap) => void): () => void;
  on(event: 'error', fn: (err: Error, context: { event?: string; meta?: Meta }) => void): () => void;
  on<T = unknown>(event: string, fn: MessageHandler<T>): () => void;
  /**
   * A handler for pushed messages of `event` (acknowledged when every handler
   * resolved; a handler that throws leaves the message unacknowledged, so it
   * comes again), or for the client's own events `state`, `gap`, `error`.
   * Returns a function that removes the handler.
   */
  on(event: string, fn: (...args: any[]) => unknown): () => void {
    return LOCAL_EVENTS.has(event) ? this.local.on(event, fn) : this.handlers.on(event, fn);
  }

  off(event: string, fn?: (...args: any[]) => unknown): void {
    if (LOCAL_EVENTS.has(event)) this.local.off(event, fn);
    else this.handlers.off(event, fn);
  }

  /** A handler for every pushed message (after the event's own handlers). */
  onAny(fn: AnyHandler): () => void {
    this.anyHandlers.add(fn);
    return () => this.anyHandlers.delete(fn);
  }

  /** Joins a room; rejects with a CourierError ({code: "forbidden"...}). */
  async join(room: string, opts: { timeout?: number } = {}): Promise<void> {
    await this.call('join', { room }, opts.timeout);
  }

  /** Leaves a room. */
  async leave(room: string, opts: { timeout?: number } = {}): Promise<void> {
    await this.call('leave', { room }, opts.timeout);
  }

  /**
   * Sends a command (`cmd {name, data}`) and resolves with the backend's
   * answer; rejects with a CourierError carrying {code, message, ret?, func_ret?}.
   */
  async request<T = unknown>(name: string, data?: unknown, opts: { timeout?: number } = {}): Promise<T> {
    return (await this.call('cmd', { name, data }, opts.timeout)) as T;
  }

  /** Closes the connection for good; pending calls reject with "unavailable". */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    this.inbox?.save();
    this.socket?.disconnect();
    this.setState('closed', { reason: 'io client disconnect' });
  }

  // ---------------------------------------------------------------------

  private call(event: string, payload: unknown, timeout = this.opts.timeout ?? 10000): Promise<unknown> {
    return new Promise((resolve, reject) => {
      if (this.closed || !this.socket) {
        reject(new CourierError(ErrorCodes.Unavailable, this.closed ? 'client closed' : 'not connected yet'));
        return;
      }
      this.socket.timeout(timeout).emit(event, payload, (err: Error | null, ans: Ack) => {
        if (err) {
          const lost = /disconnect/.test(err.message);
          reject(
            lost
              ? new CourierError(ErrorCodes.Unavailable, `connection lost before ${event} was answered`)
              : new CourierError(ErrorCodes.Timeout, `no answer to ${event} within ${timeout} ms`),
          );
        } else if (ans && ans.ok === true) resolve(ans.data);
        else reject(CourierError.from(ans?.error ?? ans));
      });
    });
  }

  private setState(s: State, detail: StateDetail = {}): void {
    if (s === this._state && s !== 'reconnecting' && s !== 'connecting') return;
    this._state = s;
    this.local.emit('state', s, detail);
  }

  private async open(): Promise<void> {
    if (this.closed) return;
    if (this.opts.dispatch && (this.endpoints.length === 0 || (this.tried >= this.endpoints.length && !this.opts.url))) {
      this.tried = 0;
      if (!(await this.dispatch())) {
        this.retry('dispatch');
        return;
      }
      if (this.closed) return;
    }
    if (this.needToken && this.opts.getToken) {
      try {
        this.token = await this.opts.getToken();
        this.needToken = false;
      } catch (err) {
        this.local.emit('error', err instanceof Error ? err : new Error(String(err)), {});
        this.retry('token');
        return;
      }
      if (this.closed) return;
    }
    this.loadInbox();
    if (!this.socket || this.moveOn) this.nextSocket();
    this.moveOn = false;
    this.tried++;
    this.socket.connect();
  }

  /** The de-duplication state of this url + user + device. */
  // The de-duplication state belongs to the user and the device, whatever
  // node or endpoint delivers: any node resends what was not acknowledged.
  private loadInbox(): void {
    const key = `courier:inbox:${this.user ?? ''}|${this.device}`;
    if (this.inbox && key === this.inboxKey) return;
    this.inbox?.save();
    this.inboxKey = key;
    this.inbox = new Inbox(this.adapter.storage, key, this.opts.dedupSize ?? 1000);
  }

  /**
   * After a failed connect or a lost connection: the next endpoint at once
   * while some of this round are untried, else a backoff, then a new round.
   */
  /** Offline: retries wait; back online: reconnect at once. */
  private onNetwork(online: boolean): void {
    this.offline = !online;
    if (this.offline) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = undefined;
      if (this._state === 'reconnecting') this.setState('reconnecting', { reason: 'offline', attempt: this.attempt });
      return;
    }
    this.reconnectNow('online');
  }

  /** Back online or in the foreground: a client waiting to retry tries now. */
  private reconnectNow(reason: string): void {
    if (this.closed || this.offline || this._state !== 'reconnecting' || !this.timerOrPaused()) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.paused = false;
    this.attempt = 0;
    this.setState('reconnecting', { reason, attempt: 0, delay: 0 });
    this.open();
  }

  /** A retry is waiting (on its timer, or paused while offline). */
  private timerOrPaused(): boolean {
    return this.timer !== undefined || this.paused;
  }

  private retry(reason: string, error?: Error): void {
    if (this.closed) return;
    if (this.offline) {
      // no point trying: the network's return reconnects (onNetwork)
      this.paused = true;
      this.setState('reconnecting', { reason: 'offline', error, attempt: this.attempt });
      return;
    }
    this.paused = false;
    if (this.opts.reconnect?.enabled === false) {
      this.setState('disconnected', { reason, error });
      return;
    }
    if (reason !== 'token' && reason !== 'dispatch') this.moveOn = this.endpoints.length > 1;
    if (this.moveOn && this.tried < this.endpoints.length) {
      this.setState('reconnecting', { reason, error, attempt: this.attempt, delay: 0 });
      if (this.timer) clearTimeout(this.timer);
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.open();
      }, 0);
      return;
    }
    this.tried = 0;
    const delay = backoffDelay(this.attempt, this.opts.reconnect);
    this.attempt++;
    this.setState('reconnecting', { reason, error, attempt: this.attempt, delay });
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.open();
    }, delay);
  }

  private onConnect(): void {
    this.attempt = 0;
    this.tried = 1;
    this.authFailures = 0;
    this.serverReason = undefined;
    this.setState('connected');
    this.scheduleRefresh();
  }

  /**
   * The server closes a connection at its token's exp unless the client sent
   * a fresh token first: with getToken, fetch one a little before (a tenth of
   * the token's remaining life, 5 s to 60 s) and send it as `refresh`.
   */
  private scheduleRefresh(): void {
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    this.refreshTimer = undefined;
    const exp = tokenExpiry(this.token);
    if (!this.opts.getToken || exp === undefined) return;
    const left = exp - Date.now();
    const ahead = Math.min(60000, Math.max(5000, left / 10));
    this.refreshTimer = setTimeout(() => void this.refresh(), Math.max(0, left - ahead));
  }

  private async refresh(): Promise<void> {
    this.refreshTimer = undefined;
    if (this.closed || !this.connected || !this.opts.getToken) return;
    try {
      const token = await this.opts.getToken();
      if (this.closed || !this.connected) return;
      await this.call('refresh', { token });
      this.token = token;
      this.scheduleRefresh();
    } catch (err) {
      // left to the expiry: the server closes, and the reconnect fetches a token
      this.local.emit('error', err instanceof Error ? err : new Error(String(err)), { event: 'refresh' });
    }
  }

  private onConnectError(err: Error & { data?: { code?: number } }): void {
    if (this.closed) return;
    if (err?.data?.code === 401) {
      const e = new CourierError(ErrorCodes.Unauthorized, 'the server refused the token (401)');
      this.authFailures++;
      if (!this.opts.getToken) {
        this.local.emit('error', e, {});
        this.setState('disconnected', { reason: 'unauthorized', error: e });
        return;
      }
      this.needToken = true;
      // the first refresh is immediate; a refreshed token refused again waits
      if (this.authFailures === 1) {
        this.open();
        return;
      }
      this.retry('unauthorized', e);
      return;
    }
    this.retry('connect_error', err);
  }

  private onDisconnect(reason: string): void {
    if (this.closed) return;
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    this.refreshTimer = undefined;
    if (this.serverReason === 'token_expired' && this.opts.getToken) this.needToken = true;
    const detail = { reason: this.serverReason ?? reason };
    this.serverReason = undefined;
    if (reason === 'io server disconnect') {
      // kicked by the server: stay away, like the official client
      this.setState('disconnected', detail);
      return;
    }
    this.retry(detail.reason);
  }

  private onEvent(event: string, args: unknown[]): void {
    if (event.startsWith('courier:')) return;
    const ack = typeof args[args.length - 1] === 'function' ? (args.pop() as (...a: unknown[]) => void) : undefined;
    const data = args[0];
    const meta = args[1] as Meta;
    void this.deliver(event, data, meta, ack);
  }

  private async deliver(event: string, data: unknown, meta: Meta, ack?: (...a: unknown[]) => void): Promise<void> {
    const fns = this.handlers.get(event);
    const any = [...this.anyHandlers];
    const id = meta && typeof meta.id === 'string' ? meta.id : undefined;
    const inbox = this.inbox;
    if (id !== undefined && inbox) {
      if (inbox.has(id)) {
        ack?.();
        return;
      }
      const running = this.inflight.get(id);
      if (running) {
        if (await running) ack?.();
        return;
      }
      const gap = inbox.track(meta);
      if (gap) this.local.emit('gap', gap);
    }
    // no handler: not acknowledged, so the server offers it again later
    if (fns.length === 0 && any.length === 0) return;
    const run = (async () => {
      try {
        for (const fn of fns) await fn(data, meta);
        for (const fn of any) await fn(event, data, meta);
      } catch (err) {
        this.local.emit('error', err instanceof Error ? err : new Error(String(err)), { event, meta });
        return false;
      }
      if (id !== undefined) inbox?.add(id);
      return true;
    })();
    if (id !== undefined) this.inflight.set(id, run);
    const ok = await run;
    if (id !== undefined) this.inflight.delete(id);
    if (ok) ack?.();
  }
}
