/**
 * FNV-1a (32-bit) over the bytes of typed arrays, as 8 hex digits: a cheap, stable identity for
 * weights and bag files in checkpoint fingerprints (not a cryptographic hash).
 */
export const fnv1a = (arrays: ReadonlyArray<ArrayBufferView>): string => {
  let h = 0x811c9dc5
  for (const a of arrays) {
    const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength)
    for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193) >>> 0
  }
  return h.toString(16).padStart(8, "0")
}
