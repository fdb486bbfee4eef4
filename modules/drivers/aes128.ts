// AES-128 (FIPS-197) with CBC chaining (NIST SP 800-38A), small and portable: the battery
// monitors' notifications are AES-128-CBC, and the driver must decrypt them on Node and XS
// too, where the Moddable SDK's crypt modules do not exist. Byte-oriented, no tables beyond
// the two 256-byte S-boxes (built once from the field arithmetic rather than typed in).
// Not constant-time: it protects nothing secret here (the monitors' keys are published).

const SBOX = new Uint8Array(256);
const INV_SBOX = new Uint8Array(256);

/** Multiplication by x in GF(2^8) modulo x^8 + x^4 + x^3 + x + 1. */
function xtime(a: number): number {
  return ((a << 1) ^ (a & 0x80 ? 0x1b : 0)) & 0xff;
}

function mul(a: number, b: number): number {
  let r = 0;
  for (; b; b >>= 1, a = xtime(a)) if (b & 1) r ^= a;
  return r;
}

// The S-box: the multiplicative inverse followed by the affine map (FIPS-197 5.1.1). The
// powers of the generator 3 run through every non-zero element, so the inverse of 3^k is
// 3^(255-k): 256 steps, where searching for each inverse would cost XS about ten million
// bytecodes at boot.
{
  const exp = new Uint8Array(255), log = new Uint8Array(256);
  for (let k = 0, p = 1; k < 255; k++, p ^= xtime(p)) { // p * 3 = p ^ p * x
    exp[k] = p;
    log[p] = k;
  }
  for (let x = 0; x < 256; x++) {
    const inv = x ? exp[(255 - log[x]) % 255] : 0;
    let s = inv;
    for (let i = 1; i < 5; i++) s ^= ((inv << i) | (inv >> (8 - i))) & 0xff;
    s ^= 0x63;
    SBOX[x] = s;
    INV_SBOX[s] = x;
  }
}

export class AesError extends Error {}

/** An AES-128 key schedule. */
export class Aes128 {
  readonly #w = new Uint8Array(176);

  constructor(key: ArrayLike<number>) {
    if (key.length !== 16) throw new AesError(`AES-128 key must be 16 bytes, not ${key.length}`);
    const w = this.#w;
    w.set(Array.from(key));
    let rcon = 1;
    for (let i = 16; i < 176; i += 4) {
      let a = w[i - 4], b = w[i - 3], c = w[i - 2], d = w[i - 1];
      if (i % 16 === 0) {
        const t = a;
        a = SBOX[b] ^ rcon; b = SBOX[c]; c = SBOX[d]; d = SBOX[t];
        rcon = xtime(rcon);
      }
      w[i] = w[i - 16] ^ a; w[i + 1] = w[i - 15] ^ b; w[i + 2] = w[i - 14] ^ c; w[i + 3] = w[i - 13] ^ d;
    }
  }

  /** Encrypts one 16-byte block in place. */
  encryptBlock(s: Uint8Array): void {
    const w = this.#w;
    addRoundKey(s, w, 0);
    for (let round = 1; round <= 10; round++) {
      for (let i = 0; i < 16; i++) s[i] = SBOX[s[i]];
      shiftRows(s);
      if (round < 10) mixColumns(s);
      addRoundKey(s, w, round * 16);
    }
  }

  /** Decrypts one 16-byte block in place. */
  decryptBlock(s: Uint8Array): void {
    const w = this.#w;
    addRoundKey(s, w, 160);
    for (let round = 9; round >= 0; round--) {
      invShiftRows(s);
      for (let i = 0; i < 16; i++) s[i] = INV_SBOX[s[i]];
      addRoundKey(s, w, round * 16);
      if (round > 0) invMixColumns(s);
    }
  }
}

function addRoundKey(s: Uint8Array, w: Uint8Array, at: number): void {
  for (let i = 0; i < 16; i++) s[i] ^= w[at + i];
}

// The state is column-major (byte i is row i % 4 of column i / 4), as FIPS-197 lays it out.
function shiftRows(s: Uint8Array): void {
  let t = s[1]; s[1] = s[5]; s[5] = s[9]; s[9] = s[13]; s[13] = t;
  t = s[2]; s[2] = s[10]; s[10] = t; t = s[6]; s[6] = s[14]; s[14] = t;
  t = s[15]; s[15] = s[11]; s[11] = s[7]; s[7] = s[3]; s[3] = t;
}

function invShiftRows(s: Uint8Array): void {
  let t = s[13]; s[13] = s[9]; s[9] = s[5]; s[5] = s[1]; s[1] = t;
  t = s[2]; s[2] = s[10]; s[10] = t; t = s[6]; s[6] = s[14]; s[14] = t;
  t = s[3]; s[3] = s[7]; s[7] = s[11]; s[11] = s[15]; s[15] = t;
}

function mixColumns(s: Uint8Array): void {
  for (let c = 0; c < 16; c += 4) {
    const a0 = s[c], a1 = s[c + 1], a2 = s[c + 2], a3 = s[c + 3];
    const all = a0 ^ a1 ^ a2 ^ a3;
    s[c] ^= all ^ xtime(a0 ^ a1);
    s[c + 1] ^= all ^ xtime(a1 ^ a2);
    s[c + 2] ^= all ^ xtime(a2 ^ a3);
    s[c + 3] ^= all ^ xtime(a3 ^ a0);
  }
}

function invMixColumns(s: Uint8Array): void {
  for (let c = 0; c < 16; c += 4) {
    const a0 = s[c], a1 = s[c + 1], a2 = s[c + 2], a3 = s[c + 3];
    s[c] = mul(a0, 14) ^ mul(a1, 11) ^ mul(a2, 13) ^ mul(a3, 9);
    s[c + 1] = mul(a0, 9) ^ mul(a1, 14) ^ mul(a2, 11) ^ mul(a3, 13);
    s[c + 2] = mul(a0, 13) ^ mul(a1, 9) ^ mul(a2, 14) ^ mul(a3, 11);
    s[c + 3] = mul(a0, 11) ^ mul(a1, 13) ^ mul(a2, 9) ^ mul(a3, 14);
  }
}

function blocks(data: ArrayLike<number>, iv: ArrayLike<number>): Uint8Array {
  if (data.length % 16 !== 0) throw new AesError(`CBC data must be whole 16-byte blocks, not ${data.length} bytes`);
  if (iv.length !== 16) throw new AesError(`CBC IV must be 16 bytes, not ${iv.length}`);
  return Uint8Array.from(data as ArrayLike<number>);
}

/** AES-128-CBC decryption without padding (the monitors send whole blocks). */
export function cbcDecrypt(aes: Aes128, iv: ArrayLike<number>, data: ArrayLike<number>): Uint8Array {
  const out = blocks(data, iv);
  let previous = Uint8Array.from(iv as ArrayLike<number>);
  for (let at = 0; at < out.length; at += 16) {
    const block = out.subarray(at, at + 16);
    const cipher = block.slice();
    aes.decryptBlock(block);
    for (let i = 0; i < 16; i++) block[i] ^= previous[i];
    previous = cipher;
  }
  return out;
}

/** AES-128-CBC encryption without padding (the BM6 request, and the emulated monitors). */
export function cbcEncrypt(aes: Aes128, iv: ArrayLike<number>, data: ArrayLike<number>): Uint8Array {
  const out = blocks(data, iv);
  let previous: ArrayLike<number> = iv;
  for (let at = 0; at < out.length; at += 16) {
    const block = out.subarray(at, at + 16);
    for (let i = 0; i < 16; i++) block[i] ^= previous[i];
    aes.encryptBlock(block);
    previous = block;
  }
  return out;
}
