/**
 * The safetensors format (huggingface/safetensors): an 8-byte little-endian header length,
 * a JSON header `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}`,
 * then the raw little-endian tensor bytes. bingo uses it for network weights in checkpoints
 * and for importing PyTorch weights.
 */

export interface NamedTensor {
  readonly name: string
  readonly shape: ReadonlyArray<number>
  readonly data: Float32Array
}

const DTYPE_BYTES: Record<string, number> = { F32: 4, F64: 8, F16: 2, I64: 8, I32: 4, BF16: 2 }

/** Serialise float32 tensors (names sorted, as the reference writer does). */
export const encodeSafetensors = (tensors: ReadonlyArray<NamedTensor>, metadata: Record<string, string> = {}): Uint8Array => {
  const sorted = [...tensors].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  const header: Record<string, unknown> = {}
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata
  let offset = 0
  for (const t of sorted) {
    const bytes = t.data.length * 4
    header[t.name] = { dtype: "F32", shape: t.shape, data_offsets: [offset, offset + bytes] }
    offset += bytes
  }
  let json = JSON.stringify(header)
  while ((8 + json.length) % 8 !== 0) json += " "
  const headerBytes = new TextEncoder().encode(json)
  const out = new Uint8Array(8 + headerBytes.length + offset)
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true)
  out.set(headerBytes, 8)
  let pos = 8 + headerBytes.length
  for (const t of sorted) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), pos)
    pos += t.data.byteLength
  }
  return out
}

export interface DecodedSafetensors {
  readonly tensors: ReadonlyMap<string, { readonly dtype: string; readonly shape: ReadonlyArray<number>; readonly data: Float32Array }>
  readonly metadata: Readonly<Record<string, string>>
}

/**
 * Parse a safetensors file. Float tensors (F32, F64, F16) become Float32Arrays; integer
 * tensors (e.g. BatchNorm's num_batches_tracked) are converted too. Throws an Error whose
 * message says what is malformed; callers wrap it in a typed error with the path.
 */
export const decodeSafetensors = (bytes: Uint8Array): DecodedSafetensors => {
  if (bytes.length < 8) throw new Error("file shorter than the 8-byte header length")
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const headerLen = Number(view.getBigUint64(0, true))
  if (headerLen <= 0 || 8 + headerLen > bytes.length) throw new Error(`header length ${headerLen} exceeds file size ${bytes.length}`)
  let header: Record<string, { dtype: string; shape: Array<number>; data_offsets: [number, number] } | Record<string, string>>
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLen)))
  } catch (e) {
    throw new Error(`header is not valid JSON (${String(e)})`)
  }
  const base = 8 + headerLen
  const tensors = new Map<string, { dtype: string; shape: ReadonlyArray<number>; data: Float32Array }>()
  let metadata: Record<string, string> = {}
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") {
      metadata = entry as Record<string, string>
      continue
    }
    const { dtype, shape, data_offsets } = entry as { dtype: string; shape: Array<number>; data_offsets: [number, number] }
    const width = DTYPE_BYTES[dtype]
    if (width === undefined) throw new Error(`tensor '${name}' has unsupported dtype ${dtype}`)
    const count = shape.reduce((a, b) => a * b, 1)
    const [begin, end] = data_offsets
    if (end - begin !== count * width || base + end > bytes.length) {
      throw new Error(`tensor '${name}' data_offsets [${begin}, ${end}] do not fit shape [${shape.join(", ")}] ${dtype}`)
    }
    const data = new Float32Array(count)
    const at = base + begin
    for (let i = 0; i < count; i++) {
      const p = at + i * width
      switch (dtype) {
        case "F32":
          data[i] = view.getFloat32(p, true)
          break
        case "F64":
          data[i] = view.getFloat64(p, true)
          break
        case "I64":
          data[i] = Number(view.getBigInt64(p, true))
          break
        case "I32":
          data[i] = view.getInt32(p, true)
          break
        case "F16":
          data[i] = halfToFloat(view.getUint16(p, true))
          break
        case "BF16":
          data[i] = new Float32Array(new Uint32Array([view.getUint16(p, true) << 16]).buffer)[0]!
          break
      }
    }
    tensors.set(name, { dtype, shape, data })
  }
  return { tensors, metadata }
}

const halfToFloat = (h: number): number => {
  const s = h & 0x8000 ? -1 : 1
  const e = (h >> 10) & 0x1f
  const f = h & 0x3ff
  if (e === 0) return s * 2 ** -14 * (f / 1024)
  if (e === 31) return f ? NaN : s * Infinity
  return s * 2 ** (e - 15) * (1 + f / 1024)
}
