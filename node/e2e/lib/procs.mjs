// Processes the end-to-end suites of several folders share (node/e2e and
// the SDK suites import this file): free ports and a throwaway
// redis-server. It uses Node's own modules only, so it needs no npm install.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

const children = new Set();
process.on('exit', () => {
  for (const child of children) {
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
});

/**
 * A free TCP port on 127.0.0.1, below the kernel's ephemeral range
 * (/proc/sys/net/ipv4/ip_local_port_range, 32768-60999 by default): a port
 * the kernel hands out (listen on 0) can be taken by any outgoing
 * connection before the node that was meant to bind it starts, or restarts
 * on it after a kill.
 */
export async function freePort() {
  const [low] = ephemeralRange();
  const base = Math.max(1024, Math.min(low, 32768) - 12000);
  for (let i = 0; i < 200; i++) {
    const port = base + Math.floor(Math.random() * (Math.min(low, 32768) - base));
    if (await canBind(port)) return port;
  }
  throw new Error('no free port below the ephemeral range');
}

function ephemeralRange() {
  try {
    return readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
  } catch {
    return [32768, 60999];
  }
}

function canBind(port) {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/**
 * Starts a throwaway redis-server (no persistence) on a free loopback port and
 * waits until it answers PING. It is killed by PID with stop(), and with every
 * other child when the test process exits.
 */
export async function startRedis({ bin = process.env.REDIS_SERVER || 'redis-server' } = {}) {
  let lastErr;
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    try {
      return await startRedisOn(bin, port);
    } catch (err) {
      lastErr = err; // most likely the port was taken meanwhile: try another
    }
  }
  throw lastErr;
}

async function startRedisOn(bin, port) {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  const tail = [];
  const keep = (chunk) => {
    for (const line of chunk.toString().split('\n')) if (line) tail.push(line);
    while (tail.length > 50) tail.shift();
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let spawnError = null;
  child.on('error', (err) => {
    spawnError = err;
  });
  const watch = exitWatch(child, children);
  const redis = {
    port,
    pid: child.pid,
    url: `redis://127.0.0.1:${port}`,
    logs: (n = 30) => tail.slice(-n).join('\n'),
    get exited() {
      return watch.exited;
    },
    stop: watch.stop,
  };
  const deadline = Date.now() + 10000;
  for (;;) {
    if (spawnError) throw new Error(`cannot start ${bin}: ${spawnError.message} (is redis-server installed?)`);
    if (redis.exited) throw new Error(`redis-server exited (${JSON.stringify(redis.exited)}) on port ${port}\n${redis.logs()}`);
    if (await redisPing(port)) return redis;
    if (Date.now() > deadline) {
      await redis.stop();
      throw new Error(`redis-server on port ${port} did not answer PING within 10 s\n${redis.logs()}`);
    }
    await sleep(50);
  }
}

/** True when a Redis on 127.0.0.1:port answers PING with +PONG. */
function redisPing(port) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    let buf = '';
    const done = (ok) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(1000, () => done(false));
    sock.on('error', () => done(false));
    sock.on('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => {
      buf += d.toString();
      if (buf.includes('\r\n')) done(buf.startsWith('+PONG'));
    });
  });
}


/**
 * Follows a child process: exited is {code, signal} once it ended (null
 * before); stop() kills it by PID and resolves with how it ended. It leaves
 * children, the set killed at exit, when it ends.
 */
export function exitWatch(child, children) {
  let exited = null;
  const done = new Promise((resolve) => {
    child.on('close', (code, signal) => {
      exited = { code, signal };
      children.delete(child);
      resolve(exited);
    });
  });
  return {
    get exited() {
      return exited;
    },
    async stop() {
      if (exited) return exited;
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // gone
      }
      return done;
    },
  };
}
