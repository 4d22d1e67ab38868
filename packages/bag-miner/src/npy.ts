/**
 * NumPy .npy files (format versions 1.0, 2.0 and 3.0, https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html),
 * for the dtypes bags and features need: little-endian int64 ('<i8'), int32 ('<i4') and
 * float32 ('<f4'), C order. Files are written byte for byte as NumPy 2.x writes them
 * (same header text and padding), so `np.load` and `cmp` both agree with ours.
 */
import { atomicWrite } from "@bingo/runtime"
import { Effect } from "effect"
import { closeSync, fstatSync, openSync, readFileSync, readSync } from "node:fs"
import { type Bags, findBagsError, makeBags } from "./Bags.ts"
import {
  BagFileError,
  BagIndexOutOfRange,
  BagShapeMismatch,
  type BagValidationError,
  NpyFormatError,
  type NpyReadError,
  NpyUnsupportedDtype
} from "./BagMinerError.ts"

export type NpyDtype = "int64" | "int32" | "float32"

/** An array as stored in a .npy file: C-order data, `shape` in elements. */
export type NpyArray =
  | { readonly dtype: "int64"; readonly shape: ReadonlyArray<number>; readonly data: BigInt64Array }
  | { readonly dtype: "int32"; readonly shape: ReadonlyArray<number>; readonly data: Int32Array }
  | { readonly dtype: "float32"; readonly shape: ReadonlyArray<number>; readonly data: Float32Array }

const descrOf: Record<NpyDtype, string> = { int64: "<i8", int32: "<i4", float32: "<f4" }
const dtypeOf: Record<string, NpyDtype> = { "<i8": "int64", "<i4": "int32", "<f4": "float32" }
const itemSize: Record<NpyDtype, number> = { int64: 8, int32: 4, float32: 4 }
const supported = Object.keys(dtypeOf)

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59] // \x93NUMPY
const ARRAY_ALIGN = 64
/** NumPy leaves room for the first axis to grow to this many digits (format.py). */
const GROWTH_AXIS_MAX_DIGITS = 21

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  throw new Error("@bingo/bag-miner reads .npy data as little-endian typed arrays; this host is big-endian")
}

/** Parse the bytes of a .npy file; `path` is only used to name the file in errors. */
export const decodeNpy = (bytes: Uint8Array, path: string): Effect.Effect<NpyArray, NpyFormatError | NpyUnsupportedDtype> =>
  Effect.suspend(() => {
    const r = decodeSync(bytes, path)
    return r instanceof NpyFormatError || r instanceof NpyUnsupportedDtype ? Effect.fail(r) : Effect.succeed(r)
  })

/** What a .npy header says: dtype, shape, and where the data start. */
export interface NpyHeader {
  readonly dtype: NpyDtype
  readonly shape: ReadonlyArray<number>
  readonly dataStart: number
}

/** Parse the header at the start of `bytes` (the data need not follow: `readNpyHeader` reads only the header). */
const parseHeader = (bytes: Uint8Array, path: string): NpyHeader | NpyFormatError | NpyUnsupportedDtype => {
  const bad = (reason: string) => new NpyFormatError({ path, reason })
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) return bad("missing the \\x93NUMPY magic string")
  const major = bytes[6]!
  const minor = bytes[7]!
  if (minor !== 0 || major < 1 || major > 3) return bad(`unknown format version ${major}.${minor}`)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const lenBytes = major === 1 ? 2 : 4
  if (bytes.length < 8 + lenBytes) return bad("truncated header")
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true)
  const dataStart = 8 + lenBytes + headerLen
  if (bytes.length < dataStart) return bad(`header of ${headerLen} bytes runs past the end of the file`)
  const header = new TextDecoder(major === 3 ? "utf-8" : "latin1").decode(bytes.subarray(8 + lenBytes, dataStart))

  const descr = /'descr'\s*:\s*(?:'([^']*)'|(\[.*\]))/s.exec(header)
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)
  if (descr === null || fortran === null || shapeText === null) return bad(`unparsable header ${JSON.stringify(header.trim())}`)
  const descrText = descr[1] ?? descr[2]!
  const dtype = dtypeOf[descrText]
  if (dtype === undefined) return new NpyUnsupportedDtype({ path, dtype: descrText, supported })
  if (fortran[1] === "True") {
    return bad(`fortran_order is True (dtype '${descrText}'); only C-order arrays are read: save with np.ascontiguousarray`)
  }
  // Python 2 NumPy wrote long integers with an L suffix: (60000L, 5L)
  const dims = shapeText[1]!
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
  if (dims.some((d) => !/^\d+L?$/.test(d))) return bad(`bad shape (${shapeText[1]})`)
  const shape = dims.map((d) => Number.parseInt(d, 10))
  return { dtype, shape, dataStart }
}

const decodeSync = (bytes: Uint8Array, path: string): NpyArray | NpyFormatError | NpyUnsupportedDtype => {
  const parsed = parseHeader(bytes, path)
  if (parsed instanceof NpyFormatError || parsed instanceof NpyUnsupportedDtype) return parsed
  const { dtype, shape, dataStart } = parsed
  const count = shape.reduce((a, b) => a * b, 1)
  const nbytes = count * itemSize[dtype]
  const actual = bytes.length - dataStart
  if (actual !== nbytes) {
    return new NpyFormatError({
      path,
      reason: `shape (${shape.join(", ")}) of '${descrOf[dtype]}' needs ${nbytes} data bytes, the file has ${actual}`
    })
  }
  // Copy into a fresh, aligned ArrayBuffer (a Node Buffer's slice() would share the pool).
  const copy = new Uint8Array(nbytes)
  copy.set(bytes.subarray(dataStart, dataStart + nbytes))
  const buffer = copy.buffer
  switch (dtype) {
    case "int64":
      return { dtype, shape, data: new BigInt64Array(buffer) }
    case "int32":
      return { dtype, shape, data: new Int32Array(buffer) }
    case "float32":
      return { dtype, shape, data: new Float32Array(buffer) }
  }
}

/**
 * The dtype and shape of a .npy file from its header alone (the data are not read, only checked
 * to be as long as the shape needs), for checking a set of large files cheaply.
 */
export const readNpyHeader = (path: string): Effect.Effect<NpyHeader, NpyReadError> =>
  Effect.try({
    try: () => {
      const fd = openSync(path, "r")
      try {
        const head = Buffer.alloc(4096)
        let got = readSync(fd, head, 0, head.length, 0)
        let bytes = head.subarray(0, got)
        // a version 2/3 header may be longer than 4 KiB: read as much as it says
        if (got >= 12 && bytes[6]! >= 2) {
          const headerLen = bytes.readUInt32LE(8)
          if (12 + headerLen > got) {
            const all = Buffer.alloc(12 + headerLen)
            got = readSync(fd, all, 0, all.length, 0)
            bytes = all.subarray(0, got)
          }
        }
        return { bytes, size: fstatSync(fd).size }
      } finally {
        closeSync(fd)
      }
    },
    catch: (e) => new BagFileError({ path, operation: "read", reason: errorText(e) })
  }).pipe(
    Effect.flatMap(({ bytes, size }): Effect.Effect<NpyHeader, NpyFormatError | NpyUnsupportedDtype> => {
      const parsed = parseHeader(bytes, path)
      if (parsed instanceof NpyFormatError || parsed instanceof NpyUnsupportedDtype) return Effect.fail(parsed)
      const nbytes = parsed.shape.reduce((a, b) => a * b, 1) * itemSize[parsed.dtype]
      if (size - parsed.dataStart !== nbytes) {
        return Effect.fail(
          new NpyFormatError({
            path,
            reason: `shape (${parsed.shape.join(", ")}) of '${descrOf[parsed.dtype]}' needs ${nbytes} data bytes, the file has ${size - parsed.dataStart}`
          })
        )
      }
      return Effect.succeed(parsed)
    })
  )

/** The bytes NumPy 2.x writes for this array with np.save (format 1.0, or 2.0 if the header needs it). */
export const encodeNpy = (array: NpyArray): Uint8Array => {
  const count = array.shape.reduce((a, b) => a * b, 1)
  if (array.data.length !== count) {
    throw new RangeError(`shape (${array.shape.join(", ")}) needs ${count} values, got ${array.data.length}`)
  }
  const shape = array.shape.length === 1 ? `(${array.shape[0]},)` : `(${array.shape.join(", ")})`
  let header = `{'descr': '${descrOf[array.dtype]}', 'fortran_order': False, 'shape': ${shape}, }`
  if (array.shape.length > 0) header += " ".repeat(GROWTH_AXIS_MAX_DIGITS - String(array.shape[0]).length)
  const text = new TextEncoder().encode(header) // ASCII only
  const wrap = (lenBytes: number) => {
    const hlen = text.length + 1
    const padlen = ARRAY_ALIGN - ((8 + lenBytes + hlen) % ARRAY_ALIGN)
    return { total: hlen + padlen, start: 8 + lenBytes }
  }
  let version = 1
  let { total, start } = wrap(2)
  if (total > 0xffff) {
    version = 2
    ;({ total, start } = wrap(4))
  }
  const data = new Uint8Array(array.data.buffer, array.data.byteOffset, array.data.byteLength)
  const out = new Uint8Array(start + total + data.length)
  out.set(MAGIC, 0)
  out[6] = version
  out[7] = 0
  const view = new DataView(out.buffer)
  if (version === 1) view.setUint16(8, total, true)
  else view.setUint32(8, total, true)
  out.set(text, start)
  out.fill(0x20, start + text.length, start + total - 1)
  out[start + total - 1] = 0x0a
  out.set(data, start + total)
  return out
}

/** Read a .npy file. */
export const readNpy = (path: string): Effect.Effect<NpyArray, NpyReadError> =>
  Effect.try({
    try: () => readFileSync(path),
    catch: (e) => new BagFileError({ path, operation: "read", reason: errorText(e) })
  }).pipe(Effect.flatMap((bytes) => decodeNpy(bytes, path)))

/** Write a .npy file atomically (a temp file renamed over `path`). */
export const writeNpy = (path: string, array: NpyArray): Effect.Effect<void, BagFileError> =>
  Effect.suspend(() => {
    const bytes = encodeNpy(array) // a shape/data mismatch is a programmer error (defect)
    return Effect.try({
      try: () => atomicWrite(path, bytes),
      catch: (e) => new BagFileError({ path, operation: "write", reason: errorText(e) })
    })
  })

/**
 * Read an N x K bag matrix (int64 as the reference BINGO stores it, or int32). int64 values
 * are narrowed to int32 after a range check; every index must name a row of the file
 * (0 <= index < N), and no row may list its own anchor except isolated rows (Bags.ts).
 * With `n`, the file must also have exactly n rows (checked first: BagShapeMismatch).
 */
export const readBagsNpy = (
  path: string,
  options: { readonly n?: number; readonly allowSelf?: boolean } = {}
): Effect.Effect<Bags, NpyReadError | BagValidationError> =>
  readNpy(path).pipe(
    Effect.flatMap((array): Effect.Effect<Bags, NpyReadError | BagValidationError> => {
      if (array.dtype === "float32") return Effect.fail(new NpyUnsupportedDtype({ path, dtype: "<f4", supported: ["<i8", "<i4"] }))
      if (array.shape.length !== 2 || array.shape[1]! < 1) {
        return Effect.fail(
          new NpyFormatError({ path, reason: `bags must be a 2-D (N, K) array with K >= 1, got shape (${array.shape.join(", ")})` })
        )
      }
      const [rows, k] = array.shape as [number, number]
      const n = options.n ?? rows
      if (rows !== n) return Effect.fail(new BagShapeMismatch({ path, expectedN: n, actualN: rows }))
      let neighbours: Int32Array
      if (array.dtype === "int32") {
        neighbours = array.data
      } else {
        const words = new Int32Array(array.data.buffer, array.data.byteOffset, array.data.length * 2)
        neighbours = new Int32Array(array.data.length)
        for (let i = 0; i < neighbours.length; i++) {
          const lo = words[2 * i]!
          if (words[2 * i + 1] !== lo >> 31) {
            const row = Math.floor(i / k)
            return Effect.fail(new BagIndexOutOfRange({ path, row, index: Number(array.data[i]!), n }))
          }
          neighbours[i] = lo
        }
      }
      const bags = makeBags(n, k, neighbours)
      const error = findBagsError(bags, n, { path, allowSelf: options.allowSelf === true })
      return error === undefined ? Effect.succeed(bags) : Effect.fail(error)
    })
  )

/** Write bags as an N x K .npy file, int64 by default (the reference BINGO format), atomically. */
export const writeBagsNpy = (path: string, bags: Bags, dtype: "int64" | "int32" = "int64"): Effect.Effect<void, BagFileError> =>
  Effect.suspend(() => {
    const shape = [bags.n, bags.k]
    if (dtype === "int32") return writeNpy(path, { dtype, shape, data: bags.neighbours })
    const data = new BigInt64Array(bags.neighbours.length)
    const words = new Int32Array(data.buffer)
    for (let i = 0; i < bags.neighbours.length; i++) {
      const v = bags.neighbours[i]!
      words[2 * i] = v
      words[2 * i + 1] = v >> 31
    }
    return writeNpy(path, { dtype, shape, data })
  })

const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e))
