// MD4 (RFC 1320) for {PLAIN-MD4} (OpenSSL 3 no longer offers it to Node), and the MD5
// compression function for {CRAM-MD5}/{HMAC-MD5}, whose stored value is the HMAC-MD5
// inner and outer context (RFC 2195 §2, Dovecot's hmac_md5_get_cram_context()).

function rotl(x: number, n: number): number {
  return (x << n) | (x >>> (32 - n));
}

function padMessage(msg: Buffer): Buffer {
  const len = msg.length;
  const total = ((len + 8) >> 6) * 64 + 64;
  const buf = Buffer.alloc(total);
  msg.copy(buf);
  buf[len] = 0x80;
  const bits = BigInt(len) * 8n;
  buf.writeBigUInt64LE(bits, total - 8);
  return buf;
}

export function md4(msg: Buffer): Buffer {
  let a = 0x67452301,
    b = 0xefcdab89 | 0,
    c = 0x98badcfe | 0,
    d = 0x10325476;
  const buf = padMessage(msg);
  const x = new Array<number>(16);
  const F = (p: number, q: number, r: number) => (p & q) | (~p & r);
  const G = (p: number, q: number, r: number) => (p & q) | (p & r) | (q & r);
  const H = (p: number, q: number, r: number) => p ^ q ^ r;
  for (let off = 0; off < buf.length; off += 64) {
    for (let i = 0; i < 16; i++) x[i] = buf.readInt32LE(off + 4 * i);
    const [aa, bb, cc, dd] = [a, b, c, d];
    for (const i of [0, 4, 8, 12]) {
      a = rotl((a + F(b, c, d) + x[i]) | 0, 3);
      d = rotl((d + F(a, b, c) + x[i + 1]) | 0, 7);
      c = rotl((c + F(d, a, b) + x[i + 2]) | 0, 11);
      b = rotl((b + F(c, d, a) + x[i + 3]) | 0, 19);
    }
    for (const i of [0, 1, 2, 3]) {
      a = rotl((a + G(b, c, d) + x[i] + 0x5a827999) | 0, 3);
      d = rotl((d + G(a, b, c) + x[i + 4] + 0x5a827999) | 0, 5);
      c = rotl((c + G(d, a, b) + x[i + 8] + 0x5a827999) | 0, 9);
      b = rotl((b + G(c, d, a) + x[i + 12] + 0x5a827999) | 0, 13);
    }
    for (const i of [0, 2, 1, 3]) {
      a = rotl((a + H(b, c, d) + x[i] + 0x6ed9eba1) | 0, 3);
      d = rotl((d + H(a, b, c) + x[i + 8] + 0x6ed9eba1) | 0, 9);
      c = rotl((c + H(d, a, b) + x[i + 4] + 0x6ed9eba1) | 0, 11);
      b = rotl((b + H(c, d, a) + x[i + 12] + 0x6ed9eba1) | 0, 15);
    }
    a = (a + aa) | 0;
    b = (b + bb) | 0;
    c = (c + cc) | 0;
    d = (d + dd) | 0;
  }
  const out = Buffer.alloc(16);
  [a, b, c, d].forEach((v, i) => out.writeInt32LE(v, 4 * i));
  return out;
}

const MD5_T = Array.from({ length: 64 }, (_, i) => Math.floor(Math.abs(Math.sin(i + 1)) * 2 ** 32) | 0);
const MD5_R = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];

/** The MD5 state (a, b, c, d) after compressing one 64-byte block from the initial state. */
function md5StateAfterBlock(block: Buffer): number[] {
  const x = Array.from({ length: 16 }, (_, i) => block.readInt32LE(4 * i));
  const init = [0x67452301, 0xefcdab89 | 0, 0x98badcfe | 0, 0x10325476];
  let [a, b, c, d] = init;
  for (let i = 0; i < 64; i++) {
    let f: number;
    let g: number;
    if (i < 16) {
      f = (b & c) | (~b & d);
      g = i;
    } else if (i < 32) {
      f = (d & b) | (~d & c);
      g = (5 * i + 1) % 16;
    } else if (i < 48) {
      f = b ^ c ^ d;
      g = (3 * i + 5) % 16;
    } else {
      f = c ^ (b | ~d);
      g = (7 * i) % 16;
    }
    const tmp = d;
    d = c;
    c = b;
    b = (b + rotl((a + f + MD5_T[i] + x[g]) | 0, MD5_R[(i >> 4) * 4 + (i % 4)])) | 0;
    a = tmp;
  }
  return [(a + init[0]) | 0, (b + init[1]) | 0, (c + init[2]) | 0, (d + init[3]) | 0];
}

/** 32 bytes: the outer then the inner HMAC-MD5 context of `key`, little-endian words. */
export function cramMd5Context(key: Buffer, md5: (b: Buffer) => Buffer): Buffer {
  const k = key.length > 64 ? md5(key) : key;
  const ipad = Buffer.alloc(64, 0x36);
  const opad = Buffer.alloc(64, 0x5c);
  for (let i = 0; i < k.length; i++) {
    ipad[i] ^= k[i];
    opad[i] ^= k[i];
  }
  const out = Buffer.alloc(32);
  md5StateAfterBlock(opad).forEach((v, i) => out.writeInt32LE(v, 4 * i));
  md5StateAfterBlock(ipad).forEach((v, i) => out.writeInt32LE(v, 16 + 4 * i));
  return out;
}
