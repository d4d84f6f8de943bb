const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** Decodes base64url without atob/Buffer (absent in mini-programs). */
function b64urlDecode(s: string): string {
  const clean = s.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  const bytes: number[] = [];
  let buf = 0;
  let bits = 0;
  for (const ch of clean) {
    const v = ALPHABET.indexOf(ch);
    if (v < 0) throw new Error('bad base64url');
    buf = (buf << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes.push((buf >> bits) & 0xff);
    }
  }
  // UTF-8 decode
  let out = '';
  for (let i = 0; i < bytes.length; ) {
    const b = bytes[i++];
    let cp: number;
    if (b < 0x80) cp = b;
    else if (b < 0xe0) cp = ((b & 0x1f) << 6) | (bytes[i++] & 0x3f);
    else if (b < 0xf0) cp = ((b & 0x0f) << 12) | ((bytes[i++] & 0x3f) << 6) | (bytes[i++] & 0x3f);
    else cp = ((b & 0x07) << 18) | ((bytes[i++] & 0x3f) << 12) | ((bytes[i++] & 0x3f) << 6) | (bytes[i++] & 0x3f);
    out += String.fromCodePoint(cp);
  }
  return out;
}

/**
 * The `sub` claim of a JWT, read without verifying it (the server verifies);
 * used only to key local storage per user. Undefined when unreadable.
 */
export function tokenSubject(token: string | undefined): string | undefined {
  const sub = tokenClaims(token)?.sub;
  return typeof sub === 'string' ? sub : undefined;
}

/**
 * When a JWT expires, in ms since the epoch (read without verifying it);
 * undefined when it has no readable `exp`.
 */
export function tokenExpiry(token: string | undefined): number | undefined {
  const exp = tokenClaims(token)?.exp;
  return typeof exp === 'number' && isFinite(exp) ? exp * 1000 : undefined;
}

function tokenClaims(token: string | undefined): Record<string, unknown> | undefined {
  if (!token) return undefined;
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const claims = JSON.parse(b64urlDecode(parts[1]));
    return claims && typeof claims === 'object' ? claims : undefined;
  } catch {
    return undefined;
  }
}
