/**
 * The number of values stored in an ONNX model's initializers (its weights), read straight from
 * the protobuf bytes: ModelProto.graph (field 7) -> GraphProto.initializer (field 5, repeated
 * TensorProto) -> TensorProto.dims (field 1, int64, packed or not). onnxruntime does not expose
 * initializers, and this is all the results table needs (the "params" column). Returns undefined
 * when the bytes are not a well-formed message.
 */
export const onnxInitializerValues = (bytes: Uint8Array): number | undefined => {
  try {
    let total = 0
    for (const graph of fields(bytes, 7)) for (const tensor of fields(graph, 5)) total += tensorSize(tensor)
    return total
  } catch {
    return undefined
  }
}

const tensorSize = (tensor: Uint8Array): number => {
  const dims: Array<number> = []
  walk(tensor, (field, wire, value) => {
    if (field !== 1) return
    if (wire === 0) dims.push(value as number)
    else if (wire === 2) {
      const packed = value as Uint8Array
      for (let at = 0; at < packed.length; ) {
        const [v, next] = varint(packed, at)
        dims.push(v)
        at = next
      }
    }
  })
  return dims.reduce((n, d) => n * d, 1)
}

/** The length-delimited values of `field` in a message. */
const fields = (message: Uint8Array, field: number): Array<Uint8Array> => {
  const out: Array<Uint8Array> = []
  walk(message, (f, wire, value) => {
    if (f === field && wire === 2) out.push(value as Uint8Array)
  })
  return out
}

const walk = (message: Uint8Array, visit: (field: number, wire: number, value: number | Uint8Array) => void): void => {
  let at = 0
  while (at < message.length) {
    const [key, afterKey] = varint(message, at)
    const field = Math.floor(key / 8)
    const wire = key % 8
    at = afterKey
    if (wire === 0) {
      const [v, next] = varint(message, at)
      visit(field, wire, v)
      at = next
    } else if (wire === 1) at += 8
    else if (wire === 5) at += 4
    else if (wire === 2) {
      const [length, next] = varint(message, at)
      if (next + length > message.length) throw new RangeError("truncated")
      visit(field, wire, message.subarray(next, next + length))
      at = next + length
    } else throw new RangeError(`wire type ${wire}`)
  }
  if (at !== message.length) throw new RangeError("truncated")
}

const varint = (bytes: Uint8Array, start: number): [number, number] => {
  let value = 0
  let scale = 1
  let at = start
  for (;;) {
    if (at >= bytes.length) throw new RangeError("truncated varint")
    const b = bytes[at++]!
    value += (b & 0x7f) * scale
    if ((b & 0x80) === 0) return [value, at]
    scale *= 128
    if (scale > 2 ** 63) throw new RangeError("varint too long")
  }
}
