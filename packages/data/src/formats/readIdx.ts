import { Effect } from "effect"
import { gunzipSync } from "node:zlib"
import { DatasetFormatError } from "../DatasetError.ts"
import { readBytes } from "../internal/fileIo.ts"

/** An IDX array of unsigned bytes: its dimensions and its values, row-major. */
export interface IdxArray {
  readonly dims: ReadonlyArray<number>
  readonly data: Uint8Array
}

/** IDX element type code for unsigned bytes, the only one MNIST-style datasets use. */
const UBYTE = 0x08

/**
 * Parse IDX bytes (the MNIST format: two zero bytes, a type code, the rank, then one big-endian
 * uint32 per dimension and the values). `path` is only used in error messages.
 */
export const parseIdx = (bytes: Uint8Array, path: string, expectedRank?: number): IdxArray | DatasetFormatError => {
  const fail = (reason: string) => new DatasetFormatError({ path, reason })
  if (bytes.length < 4) return fail(`file has ${bytes.length} bytes, too short for an IDX header`)
  const magic = ((bytes[0]! << 24) | (bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!) >>> 0
  const hex = `0x${magic.toString(16).padStart(8, "0")}`
  if (bytes[0] !== 0 || bytes[1] !== 0) return fail(`bad magic number ${hex}: not an IDX file`)
  if (bytes[2] !== UBYTE) return fail(`bad magic number ${hex}: element type 0x${bytes[2]!.toString(16)} is not unsigned byte (0x08)`)
  const rank = bytes[3]!
  if (rank === 0) return fail(`bad magic number ${hex}: rank 0`)
  if (expectedRank !== undefined && rank !== expectedRank) {
    return fail(`bad magic number ${hex}: rank ${rank}, expected ${expectedRank} (magic ${0x800 + expectedRank})`)
  }
  const header = 4 + 4 * rank
  if (bytes.length < header) return fail(`truncated header: ${bytes.length} bytes, need ${header}`)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const dims: Array<number> = []
  let count = 1
  for (let d = 0; d < rank; d++) {
    dims.push(view.getUint32(4 + 4 * d, false))
    count *= dims[d]!
  }
  const expected = header + count
  if (bytes.length < expected) {
    return fail(`truncated: dimensions [${dims.join(", ")}] need ${expected} bytes, file has ${bytes.length}`)
  }
  if (bytes.length > expected) {
    return fail(`${bytes.length - expected} bytes after the data of dimensions [${dims.join(", ")}]`)
  }
  return { dims, data: bytes.subarray(header, expected) }
}

const isGzip = (bytes: Uint8Array): boolean => bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b

/**
 * Read an IDX file (gunzipped first when it is gzip, whatever its name). Fails with
 * `DatasetNotFound` or `DatasetFormatError`, both naming the file.
 */
export const readIdx = Effect.fn("readIdx")(function* (path: string, expectedRank?: number) {
  let bytes = yield* readBytes(path)
  if (isGzip(bytes)) {
    const compressed = bytes
    bytes = yield* Effect.try({
      try: () => {
        const b = gunzipSync(compressed)
        return new Uint8Array(b.buffer, b.byteOffset, b.byteLength)
      },
      catch: (e) => new DatasetFormatError({ path, reason: `gzip: ${(e as Error).message}` })
    })
  }
  const parsed = parseIdx(bytes, path, expectedRank)
  if (parsed instanceof DatasetFormatError) return yield* parsed
  return parsed
})
