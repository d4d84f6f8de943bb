// Tokens as deployments issue them (SPEC "Identity and integration"): RS256
// under a PEM key file, ES256 under a JWKS selected by kid, several HS256
// secrets for rotation, iss and aud checked; alg none and a public key used
// as an HMAC secret refused. Real node, official socket.io-client.
import assert from 'node:assert/strict';
import { createHmac, createSign, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test, before, after, afterEach } from 'node:test';
import { startServer, openClient, connected, connectError, closeClients, push, uid, JWT_SECRET } from '../lib/courier.mjs';

const b64url = (b) => Buffer.from(b).toString('base64url');
const ISS = 'https://login.example';
const AUD = 'courier';
const NEW_SECRET = 'the-new-secret-of-thirty-two-bytes!';

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ecJWKS = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const rsaPEM = rsa.publicKey.export({ type: 'spki', format: 'pem' });

function sign(alg, key, claims, kid) {
  const header = { alg, typ: 'JWT', ...(kid ? { kid } : {}) };
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  let sig;
  if (alg === 'HS256') sig = createHmac('sha256', key).update(input).digest();
  else if (alg === 'RS256') sig = createSign('SHA256').update(input).sign(key);
  else sig = createSign('SHA256').update(input).sign({ key, dsaEncoding: 'ieee-p1363' }); // ES256: r||s
  return `${input}.${b64url(sig)}`;
}

const claimsFor = (user, extra = {}) => ({ sub: user, iss: ISS, aud: AUD, exp: Math.floor(Date.now() / 1000) + 3600, ...extra });

let server;
let jwks;
before(async () => {
  jwks = createServer((req, res) => {
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify({ keys: [{ ...ecJWKS.publicKey.export({ format: 'jwk' }), kid: 'ec-1', use: 'sig', alg: 'ES256' }] }));
  });
  await new Promise((r) => jwks.listen(0, '127.0.0.1', r));
  const dir = mkdtempSync(path.join(tmpdir(), 'courier-keys-'));
  const pemFile = path.join(dir, 'keys.pem');
  writeFileSync(pemFile, rsaPEM + ec.publicKey.export({ type: 'spki', format: 'pem' }));
  server = await startServer([
    '--jwt-secret', `${NEW_SECRET},${JWT_SECRET}`,
    '--jwt-public-key', pemFile,
    '--jwks-url', `http://127.0.0.1:${jwks.address().port}/.well-known/jwks.json`,
    '--jwt-issuer', ISS, '--jwt-audience', AUD,
  ]);
}, { timeout: 300000 });
afterEach(() => closeClients());
after(async () => {
  closeClients();
  await server?.stop();
  jwks?.close();
});

async function accepted(token, what) {
  const user = JSON.parse(Buffer.from(token.split('.')[1], 'base64url')).sub;
  const { socket, inbox } = openClient(server, { auth: { token } });
  await connected(socket).catch((e) => assert.fail(`${what}: ${e.message}`));
  const id = await push(server, { to: { users: [user] }, event: 'hello', data: what, ttl: 60 });
  const got = await inbox.next();
  assert.equal(got.meta.id, id, `${what}: the push reached another user`);
}

async function refused(token, what) {
  const { socket } = openClient(server, { auth: { token } });
  const err = await connectError(socket);
  assert.deepEqual(err.data, { code: 401 }, `${what}: connect_error "${err.message}" carried ${JSON.stringify(err.data)}`);
}

test('RS256 and ES256 under the PEM keys, ES256 under the JWKS by kid, HS256 under either secret', { timeout: 30000 }, async () => {
  await accepted(sign('RS256', rsa.privateKey, claimsFor(uid('rs'))), 'RS256');
  await accepted(sign('ES256', ec.privateKey, claimsFor(uid('es'))), 'ES256');
  await accepted(sign('ES256', ecJWKS.privateKey, claimsFor(uid('jwks')), 'ec-1'), 'ES256 from the JWKS');
  await accepted(sign('HS256', NEW_SECRET, claimsFor(uid('hs-new'))), 'HS256, new secret');
  await accepted(sign('HS256', JWT_SECRET, claimsFor(uid('hs-old'))), 'HS256, old secret');
});

test('wrong issuer, audience, key or algorithm: connect_error {code: 401}', { timeout: 30000 }, async () => {
  const u = uid('bad');
  await refused(sign('RS256', rsa.privateKey, claimsFor(u, { iss: 'https://evil.example' })), 'other issuer');
  await refused(sign('RS256', rsa.privateKey, claimsFor(u, { aud: 'shop' })), 'other audience');
  await refused(sign('HS256', rsaPEM, claimsFor(u)), 'HS256 keyed with the public key');
  await refused(sign('ES256', generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey, claimsFor(u), 'unknown-kid'), 'a kid the JWKS lacks');
  await refused(sign('ES256', generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey, claimsFor(u)), 'a stranger key');
  await refused(`${b64url('{"alg":"none"}')}.${b64url(JSON.stringify(claimsFor(u)))}.`, 'alg none');
  await refused(sign('RS256', rsa.privateKey, claimsFor(u, { nbf: Math.floor(Date.now() / 1000) + 600 })), 'nbf in the future');
});
