// Byte helpers shared by the firmware and its tests.

/**
 * True on an engine with a JIT compiler (V8 in Node, JavaScriptCore), told by
 * Error.captureStackTrace, which they have and XS has not. Two costs differ there: a JS loop
 * over a short string is compiled and beats a call into a native encoder, where XS charges
 * every step of it; and V8 gives a typed array over 64 bytes its own backing store outside
 * its heap (~1 µs, twenty times a small one), where XS allocates every array in its heap.
 * Only speed depends on it, never a result.
 */
export const JIT = typeof (Error as unknown as { captureStackTrace?: unknown }).captureStackTrace === "function";

/** V8's largest typed array kept on its heap (typed_array_max_size_in_heap). */
const IN_HEAP = 64;
const SLAB_SIZE = 8192;
/** Largest array carved from a slab: a larger packet amortizes its own allocation. */
const SLAB_MAX = 1024;
let slab = new ArrayBuffer(0);
let slabUsed = SLAB_SIZE; // the first use creates it

/**
 * A zeroed array of n bytes. With a JIT, one of 65 to 1,024 bytes is a view into a shared
 * 8 KB slab, as Node's Buffer.allocUnsafe does with its pool: each region is handed out once,
 * so the caller may keep it (a kept view keeps its slab alive).
 */
export function allocate(n: number): Uint8Array {
  if (!JIT || n <= IN_HEAP || n > SLAB_MAX) return new Uint8Array(n);
  if (slabUsed + n > SLAB_SIZE) {
    slab = new ArrayBuffer(SLAB_SIZE);
    slabUsed = 0;
  }
  const out = new Uint8Array(slab, slabUsed, n);
  slabUsed += n;
  return out;
}

/** Joins byte arrays into one new array. */
export function concatBytes(parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
