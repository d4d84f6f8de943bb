import { _decorator, Component } from 'cc';
import {
  CourierClient as Client,
  type ConnectOptions,
  type Gap,
  type MessageHandler,
  type Meta,
  type State,
  type StateDetail,
} from 'courier-sdk/core';
import { cocosAdapter } from './adapter.js';

const { ccclass, property } = _decorator;

/** Events the component emits on its node (`this.node.on(CourierEvent.MESSAGE, ...)`). */
export const CourierEvent = {
  /** (state: State, detail: StateDetail) */
  STATE: 'courier-state',
  /** (msg: CourierMessage): every pushed message, acknowledged once the listeners return */
  MESSAGE: 'courier-message',
  /** (gap: Gap) */
  GAP: 'courier-gap',
  /** (err: Error) */
  ERROR: 'courier-error',
} as const;

export interface CourierMessage<T = unknown> {
  event: string;
  data: T;
  meta: Meta;
}

/**
 * Add to a node, set `url` in the inspector and a token (or getToken) from
 * code before start(); pushed messages arrive as node events.
 */
@ccclass('CourierClient')
export class CourierClient extends Component {
  @property({ tooltip: 'courier server URL, e.g. wss://push.example.com; several: comma-separated, tried in turn' })
  url = '';

  @property({ tooltip: 'Dispatch URL answering {"endpoints": [URL, ...]}; used instead of url when set' })
  dispatch = '';

  @property({ tooltip: 'Start from a random endpoint of the list' })
  shuffle = false;

  @property({ tooltip: 'Device id; empty: generated once and kept in sys.localStorage' })
  device = '';

  @property({ tooltip: 'Connect in start() (set token or getToken in onLoad of another component)' })
  autoConnect = true;

  /** The client JWT (from your login; not an inspector property). */
  token = '';
  /** Called for a fresh token on start and whenever the server answers 401. */
  getToken: (() => string | Promise<string>) | null = null;
  /** Extra options for the core client. */
  options: Partial<ConnectOptions> = {};

  private _client: Client | null = null;

  /** The courier-sdk client while connected or connecting. */
  get client(): Client | null {
    return this._client;
  }

  get state(): State {
    return this._client?.state ?? 'closed';
  }

  start(): void {
    if (this.autoConnect && !this._client) this.connect();
  }

  onDestroy(): void {
    this.close();
  }

  /** Opens the connection (again); safe to call when already open. */
  connect(): Client | null {
    if (this._client) return this._client;
    const urls = this.url.split(',').map((u) => u.trim()).filter((u) => u !== '');
    if ((urls.length === 0 && !this.dispatch) || (!this.token && !this.getToken)) {
      this.node.emit(CourierEvent.ERROR, new Error('CourierClient: set url (or dispatch) and token (or getToken) before connecting'));
      return null;
    }
    const c = new Client({
      ...this.options,
      url: this.dispatch ? undefined : urls,
      dispatch: this.dispatch || undefined,
      shuffle: this.shuffle,
      token: this.token || undefined,
      getToken: this.getToken ?? undefined,
      device: this.device || undefined,
      adapter: this.options.adapter ?? cocosAdapter(),
    });
    this._client = c;
    c.on('state', (s, d) => this.node.emit(CourierEvent.STATE, s, d));
    c.on('gap', (g) => this.node.emit(CourierEvent.GAP, g));
    c.on('error', (e) => this.node.emit(CourierEvent.ERROR, e));
    c.onAny((event, data, meta) => {
      const msg: CourierMessage = { event, data, meta };
      this.node.emit(CourierEvent.MESSAGE, msg);
    });
    return c;
  }

  close(): void {
    this._client?.close();
    this._client = null;
  }

  /** An async handler for one event: acknowledged when it resolves (see courier-sdk `on`). */
  on<T = unknown>(event: string, handler: MessageHandler<T>): () => void {
    const c = this.connect();
    if (!c) throw new Error('CourierClient: not configured');
    return c.on<T>(event, handler);
  }

  onState(cb: (state: State, detail: StateDetail) => void, target?: unknown): void {
    this.node.on(CourierEvent.STATE, cb, target);
  }

  onMessage<T = unknown>(cb: (msg: CourierMessage<T>) => void, target?: unknown): void {
    this.node.on(CourierEvent.MESSAGE, cb, target);
  }

  onGap(cb: (gap: Gap) => void, target?: unknown): void {
    this.node.on(CourierEvent.GAP, cb, target);
  }

  join(room: string): Promise<void> {
    return this.need().join(room);
  }

  leave(room: string): Promise<void> {
    return this.need().leave(room);
  }

  request<T = unknown>(name: string, data?: unknown, opts?: { timeout?: number }): Promise<T> {
    return this.need().request<T>(name, data, opts);
  }

  private need(): Client {
    if (!this._client) throw new Error('CourierClient: not connected (call connect())');
    return this._client;
  }
}
