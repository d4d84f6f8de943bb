// A simulated Cocos Creator 3.x `cc` module: sys (isNative, localStorage),
// Node with the EventTarget API, Component, and the _decorator registry the
// editor reads inspector properties from. Tests drive the lifecycle with
// addComponent / startAll / destroy like the engine does.
export const sys = {
  isNative: true,
  isBrowser: false,
  localStorage: (() => {
    const m = new Map();
    return {
      getItem: (k) => (m.has(k) ? m.get(k) : null),
      setItem: (k, v) => m.set(k, String(v)),
      removeItem: (k) => m.delete(k),
      clear: () => m.clear(),
      _map: m,
    };
  })(),
};

export class Node {
  constructor(name = 'Node') {
    this.name = name;
    this._listeners = new Map();
    this.components = [];
  }
  on(type, callback, target) {
    if (!this._listeners.has(type)) this._listeners.set(type, []);
    this._listeners.get(type).push({ callback, target });
  }
  off(type, callback, target) {
    const l = this._listeners.get(type) ?? [];
    this._listeners.set(type, callback ? l.filter((x) => x.callback !== callback || (target && x.target !== target)) : []);
  }
  emit(type, ...args) {
    for (const { callback, target } of [...(this._listeners.get(type) ?? [])]) callback.apply(target, args);
  }
  /** Like the editor: inspector values are set before onLoad. */
  addComponent(Ctor, props = {}) {
    const c = new Ctor();
    c.node = this;
    Object.assign(c, props);
    this.components.push(c);
    c.onLoad?.();
    return c;
  }
  getComponent(Ctor) {
    return this.components.find((c) => c instanceof Ctor) ?? null;
  }
  /** The engine calls start() of new components before the next frame. */
  startAll() {
    for (const c of this.components) c.start?.();
  }
  destroy() {
    for (const c of this.components) c.onDestroy?.();
    this.components = [];
  }
}

export class Component {
  constructor() {
    this.node = null;
    this.enabled = true;
  }
  getComponent(Ctor) {
    return this.node.getComponent(Ctor);
  }
}

export class Label extends Component {
  constructor() {
    super();
    this.string = '';
  }
}

/** ccclass name → { ctor, properties: {key: options} } */
export const classes = new Map();

export const _decorator = {
  ccclass(name) {
    return (ctor) => {
      const properties = ctor.prototype.__ccProps ?? {};
      classes.set(name, { ctor, properties });
      return ctor;
    };
  },
  property(options = {}) {
    return (target, key) => {
      if (!Object.prototype.hasOwnProperty.call(target, '__ccProps')) {
        Object.defineProperty(target, '__ccProps', { value: { ...(target.__ccProps ?? {}) }, enumerable: false });
      }
      target.__ccProps[key] = options;
    };
  },
  menu() {
    return (ctor) => ctor;
  },
};
