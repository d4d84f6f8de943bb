import { ErrorCodes, type ErrorCode } from './errors.gen.js';

export { ErrorCodes, errorTable, type ErrorCode } from './errors.gen.js';

/** The error body of an acknowledgement: {code, message, ret?, func_ret?}. */
export interface ErrorBody {
  code: ErrorCode | string;
  message: string;
  ret?: number;
  func_ret?: number;
  [extra: string]: unknown;
}

/**
 * What join, leave and request reject with: an Error that carries the
 * server's error object ({code, message, ret?, func_ret?}) as own fields.
 */
export class CourierError extends Error implements ErrorBody {
  code: ErrorCode | string;
  ret?: number;
  func_ret?: number;
  [extra: string]: unknown;

  constructor(code: ErrorCode | string, message: string, extra?: Record<string, unknown>) {
    super(message);
    this.name = 'CourierError';
    this.code = code;
    if (extra) {
      for (const [k, v] of Object.entries(extra)) {
        if (k !== 'code' && k !== 'message' && k !== 'name' && k !== 'stack') this[k] = v;
      }
    }
  }

  /** Turns an acknowledgement's error object (or anything) into a CourierError. */
  static from(body: unknown): CourierError {
    if (body && typeof body === 'object') {
      const b = body as Record<string, unknown>;
      const code = typeof b.code === 'string' ? b.code : ErrorCodes.Internal;
      const message = typeof b.message === 'string' ? b.message : code;
      return new CourierError(code, message, b);
    }
    return new CourierError(ErrorCodes.Internal, `malformed answer: ${JSON.stringify(body)}`);
  }

  /** The plain error object, as the server sent it. */
  toJSON(): ErrorBody {
    const out: ErrorBody = { code: this.code, message: this.message };
    for (const k of Object.keys(this)) if (k !== 'name') out[k] = this[k];
    return out;
  }
}
