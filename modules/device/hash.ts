// FNV-1a, 32 bits: short, stable names derived from a device id (NVS domains of at most 15
// characters, simulated MAC addresses, seeds), identical on every platform.

export function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return hash;
}

/** fnv1a as 8 hex digits. */
export function fnv1aHex(text: string): string {
  return fnv1a(text).toString(16).padStart(8, "0");
}
