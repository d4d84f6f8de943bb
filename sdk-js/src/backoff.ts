export interface BackoffOptions {
  /** First delay in ms (default 500). */
  initialDelay?: number;
  /** Upper bound in ms (default 30000). */
  maxDelay?: number;
  /** Growth per attempt (default 2). */
  factor?: number;
  /** Share of the delay that is random, 0..1 (default 0.5: uniform in [d/2, d]). */
  jitter?: number;
}

/** The delay before reconnect attempt n (0-based): exponential, capped, jittered. */
export function backoffDelay(attempt: number, o: BackoffOptions = {}, rand: () => number = Math.random): number {
  const initial = o.initialDelay ?? 500;
  const max = o.maxDelay ?? 30000;
  const factor = o.factor ?? 2;
  const jitter = Math.min(1, Math.max(0, o.jitter ?? 0.5));
  const base = Math.min(max, initial * Math.pow(factor, Math.min(attempt, 64)));
  return Math.round(base * (1 - jitter * rand()));
}
