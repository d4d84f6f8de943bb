// The part of Cocos Creator's `cc` module this package uses, for building it
// outside an editor project. In a project, the editor's own declarations apply.
declare module 'cc' {
  export const sys: {
    isNative: boolean;
    isBrowser: boolean;
    localStorage: {
      getItem(key: string): string | null;
      setItem(key: string, value: string): void;
      removeItem(key: string): void;
    };
  };
  export class Node {
    name: string;
    on(type: string, callback: (...args: any[]) => void, target?: unknown): void;
    off(type: string, callback?: (...args: any[]) => void, target?: unknown): void;
    emit(type: string, ...args: any[]): void;
  }
  export class Component {
    node: Node;
    enabled: boolean;
  }
  export namespace _decorator {
    function ccclass(name: string): <T>(ctor: T) => T;
    function property(options?: Record<string, unknown>): (target: object, key: string) => void;
    function menu(path: string): <T>(ctor: T) => T;
  }
}
