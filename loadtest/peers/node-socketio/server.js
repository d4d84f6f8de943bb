// A reference server on the official socket.io 4 with courier's client
// semantics, so the load tester can run the same scenario against both:
//
//   node server.js --listen 127.0.0.1:8200 --api-key K --jwt-secret S
//
// - handshake auth {token, device}: HS256 JWT with `sub` (the user) and
//   optional `rooms` patterns (`*` as a suffix wildcard); a bad token gets
//   connect_error with data {code: 401}, as courier answers.
// - POST /v1/push {to: {users, rooms, all}, event, data, ttl, id} with
//   `Authorization: Bearer <api key>` answers 202 {id} and emits
//   (data, meta) with an acknowledgement callback, meta = {id, seq, ts, room?}.
// - `join {room}` / `leave {room}` with ack {ok: true} or {ok: false, error},
//   and rooms from a `rooms` query parameter on connect.
// - GET /metrics: process_resident_memory_bytes and the connection count.
//
// What it does not do is what courier adds: no mailbox, no replay, no
// cluster. A push reaches whoever is connected at that moment.
'use strict';

const http = require('node:http');
const crypto = require('node:crypto');
const { Server } = require('socket.io');

function parseArgs(argv) {
  const opts = {
    listen: process.env.PEER_LISTEN || '127.0.0.1:8200',
    apiKey: process.env.PEER_API_KEY || '',
    jwtSecret: process.env.PEER_JWT_SECRET || '',
  };
  for (let i = 0; i < argv.length; i += 2) {
    const [k, v] = [argv[i], argv[i + 1]];
    if (k === '--listen') opts.listen = v;
    else if (k === '--api-key') opts.apiKey = v;
    else if (k === '--jwt-secret') opts.jwtSecret = v;
    else throw new Error(`unknown flag ${k}`);
  }
  if (!opts.apiKey || !opts.jwtSecret) throw new Error('--api-key and --jwt-secret are required');
  return opts;
}

// verifyToken checks an HS256 JWT the way courier's node/auth does and
// returns its claims, or null.
function verifyToken(token, secret) {
  if (typeof token !== 'string') return null;
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  let header;
  let claims;
  try {
    header = JSON.parse(Buffer.from(parts[0], 'base64url'));
    claims = JSON.parse(Buffer.from(parts[1], 'base64url'));
  } catch {
    return null;
  }
  if (header.alg !== 'HS256') return null;
  const want = crypto.createHmac('sha256', secret).update(`${parts[0]}.${parts[1]}`).digest();
  const got = Buffer.from(parts[2], 'base64url');
  if (got.length !== want.length || !crypto.timingSafeEqual(got, want)) return null;
  if (typeof claims.sub !== 'string' || claims.sub === '') return null;
  if (claims.exp && claims.exp * 1000 < Date.now()) return null;
  return claims;
}

function roomAllowed(patterns, room) {
  return (patterns || []).some((p) => (p.endsWith('*') ? room.startsWith(p.slice(0, -1)) : p === room));
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  const seqs = new Map(); // stream -> last seq, as courier numbers each mailbox / room log
  let nextId = 0;
  const nextSeq = (stream) => {
    const s = (seqs.get(stream) || 0) + 1;
    seqs.set(stream, s);
    return s;
  };

  const server = http.createServer();
  // Defaults as courier's: pingInterval 25s, pingTimeout 20s, no compression.
  const io = new Server(server, { serveClient: false, pingInterval: 25000, pingTimeout: 20000 });

  io.use((socket, next) => {
    const claims = verifyToken(socket.handshake.auth && socket.handshake.auth.token, opts.jwtSecret);
    if (!claims) {
      const err = new Error('unauthorized');
      err.data = { code: 401 };
      return next(err);
    }
    socket.data.user = claims.sub;
    socket.data.rooms = claims.rooms || [];
    next();
  });

  io.on('connection', (socket) => {
    socket.join(`u:${socket.data.user}`);
    const q = socket.handshake.query.rooms;
    if (typeof q === 'string' && q) {
      for (const room of q.split(',')) if (roomAllowed(socket.data.rooms, room)) socket.join(`r:${room}`);
    }
    const roomOp = (op) => (arg, ack) => {
      const room = arg && arg.room;
      let answer = { ok: true };
      if (typeof room !== 'string' || room === '') answer = { ok: false, error: { code: 'bad_request', message: 'room' } };
      else if (!roomAllowed(socket.data.rooms, room)) answer = { ok: false, error: { code: 'forbidden', message: room } };
      else if (op === 'join') socket.join(`r:${room}`);
      else socket.leave(`r:${room}`);
      if (typeof ack === 'function') ack(answer);
    };
    socket.on('join', roomOp('join'));
    socket.on('leave', roomOp('leave'));
  });

  // emitAcked sends (data, meta) asking every receiver for an ack, as courier
  // does; the answers are only counted.
  let acks = 0;
  const emitAcked = (room, event, data, meta) => {
    io.to(room).timeout(10000).emit(event, data, meta, (err, answers) => {
      if (!err) acks += answers.length;
    });
  };

  const push = (body, res) => {
    const to = body.to || {};
    if (typeof body.event !== 'string' || body.event === '') return reply(res, 400, { error: { code: 'bad_request', message: 'event' } });
    const id = body.id || `p${++nextId}`;
    const ts = Date.now();
    for (const user of to.users || []) emitAcked(`u:${user}`, body.event, body.data, { id, seq: nextSeq(`u:${user}`), ts });
    for (const room of to.rooms || []) emitAcked(`r:${room}`, body.event, body.data, { id, seq: nextSeq(`r:${room}`), ts, room });
    if (to.all) io.timeout(10000).emit(body.event, body.data, { id, seq: nextSeq('*'), ts, room: '*' }, () => {});
    reply(res, 202, { id });
  };

  server.on('request', (req, res) => {
    if (req.url.startsWith('/socket.io/')) return; // socket.io answers these
    if (req.url === '/healthz' || req.url === '/readyz') return reply(res, 200, { ok: true });
    if (req.url === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const m = process.memoryUsage();
      return res.end(
        `process_resident_memory_bytes ${m.rss}\n` +
          `nodejs_heap_used_bytes ${m.heapUsed}\n` +
          `courier_connections ${io.engine.clientsCount}\n` +
          `courier_acks_total ${acks}\n`,
      );
    }
    if (req.url !== '/v1/push') return reply(res, 404, { error: { code: 'not_found', message: req.url } });
    if (req.method !== 'POST') return reply(res, 405, { error: { code: 'method_not_allowed', message: req.method } });
    if (req.headers.authorization !== `Bearer ${opts.apiKey}`) return reply(res, 401, { error: { code: 'unauthorized', message: 'api key' } });
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      let body;
      try {
        body = JSON.parse(Buffer.concat(chunks));
      } catch {
        return reply(res, 400, { error: { code: 'bad_request', message: 'json' } });
      }
      push(body, res);
    });
  });

  const [host, port] = [opts.listen.slice(0, opts.listen.lastIndexOf(':')), Number(opts.listen.slice(opts.listen.lastIndexOf(':') + 1))];
  server.listen(port, host, () => console.error(`peer listening on ${opts.listen}`));
  const stop = () => {
    io.close();
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

function reply(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

main();
