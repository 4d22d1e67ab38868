import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { makeBags } from "../src/Bags.ts"
import { BagIndexOutOfRange, BagShapeMismatch, NpyUnsupportedDtype } from "../src/BagMinerError.ts"
import { decodeNpy, encodeNpy, readBagsNpy, readNpy, writeBagsNpy, writeNpy } from "../src/npy.ts"

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url))
const tmp = () => mkdtempSync(join(tmpdir(), "bingo-npy-"))

/** The array make_fixtures.py writes (8 anchors, K = 5, no self). */
const BAGS = [
  [1, 2, 3, 4, 5],
  [0, 2, 7, 6, 3],
  [3, 1, 0, 7, 6],
  [2, 4, 5, 6, 7],
  [3, 5, 0, 1, 2],
  [4, 6, 7, 0, 1],
  [7, 5, 4, 3, 2],
  [6, 0, 1, 2, 3]
]
const FLAT = BAGS.flat()

describe("npy: NumPy fixtures", () => {
  it.effect("reads the int64 (8, 5) file NumPy wrote, as the reference BINGO stores bags", () =>
    Effect.gen(function* () {
      const array = yield* readNpy(fixture("bags_int64.npy"))
      expect(array.dtype).toBe("int64")
      expect(array.shape).toEqual([8, 5])
      expect(Array.from(array.data as BigInt64Array)).toEqual(FLAT.map(BigInt))
      const bags = yield* readBagsNpy(fixture("bags_int64.npy"))
      expect({ n: bags.n, k: bags.k, neighbours: Array.from(bags.neighbours) }).toEqual({ n: 8, k: 5, neighbours: FLAT })
      expect(bags.neighbours).toBeInstanceOf(Int32Array)
    })
  )

  it.effect("reads the int32 file and the format-2.0 file to the same bags", () =>
    Effect.gen(function* () {
      for (const name of ["bags_int32.npy", "bags_int64_v2.npy"]) {
        const bags = yield* readBagsNpy(fixture(name), { n: 8 })
        expect(Array.from(bags.neighbours)).toEqual(FLAT)
      }
    })
  )

  it.effect("reads headers as older NumPy wrote them (16-byte alignment, no growth padding, Python 2 longs)", () =>
    Effect.gen(function* () {
      // magic + version 1.0 + uint16 length + header, padded with spaces to a multiple of 16
      const old = (header: string) => {
        const len = Math.ceil((10 + header.length + 1) / 16) * 16 - 10
        const text = `${header.padEnd(len - 1, " ")}\n`
        const data = new BigInt64Array([1n, 0n])
        return Uint8Array.from([
          0x93,
          ...Buffer.from("NUMPY"),
          1,
          0,
          len & 0xff,
          len >> 8,
          ...Buffer.from(text, "latin1"),
          ...new Uint8Array(data.buffer)
        ])
      }
      for (const header of [
        "{'descr': '<i8', 'fortran_order': False, 'shape': (2, 1), }",
        "{'descr': '<i8', 'fortran_order': False, 'shape': (2L, 1L), }"
      ]) {
        const array = yield* decodeNpy(old(header), "old.npy")
        expect(array.shape).toEqual([2, 1])
        expect(Array.from(array.data as BigInt64Array)).toEqual([1n, 0n])
      }
    })
  )

  it.effect("reads a float32 matrix exactly", () =>
    Effect.gen(function* () {
      const array = yield* readNpy(fixture("features_f32.npy"))
      expect(array.dtype).toBe("float32")
      expect(array.shape).toEqual([2, 3])
      expect(Array.from(array.data as Float32Array)).toEqual([0.5, -1.25, 3, 2, 0, -0.75])
    })
  )

  it.effect("writes the same bytes as np.save (header text and padding included)", () =>
    Effect.gen(function* () {
      for (const name of ["bags_int64.npy", "bags_int32.npy", "features_f32.npy"]) {
        const bytes = readFileSync(fixture(name))
        expect(Buffer.from(encodeNpy(yield* decodeNpy(bytes, name))).equals(bytes)).toBe(true)
      }
      const dir = tmp()
      yield* writeBagsNpy(join(dir, "b.npy"), makeBags(8, 5, Int32Array.from(FLAT)))
      expect(readFileSync(join(dir, "b.npy")).equals(readFileSync(fixture("bags_int64.npy")))).toBe(true)
    })
  )

  it.effect("rejects a float64 file with NpyUnsupportedDtype naming the path and dtype", () =>
    Effect.gen(function* () {
      const path = fixture("bags_float64.npy")
      const error = yield* Effect.flip(readBagsNpy(path))
      expect(error).toEqual(new NpyUnsupportedDtype({ path, dtype: "<f8", supported: ["<i8", "<i4", "<f4"] }))
      expect(error.message).toContain(path)
      expect(error.message).toContain("'<f8'")
    })
  )

  it.effect("rejects a fortran-order file with NpyFormatError naming the path and dtype", () =>
    Effect.gen(function* () {
      const path = fixture("bags_fortran.npy")
      const error = yield* Effect.flip(readBagsNpy(path))
      expect(error._tag).toBe("NpyFormatError")
      expect(error.message).toContain(path)
      expect(error.message).toMatch(/fortran_order is True \(dtype '<i8'\)/)
    })
  )

  it.effect("rejects an int64 index beyond int32 with BagIndexOutOfRange", () =>
    Effect.gen(function* () {
      const path = fixture("bags_int64_big.npy")
      expect(yield* Effect.flip(readBagsNpy(path))).toEqual(new BagIndexOutOfRange({ path, row: 2, index: 2 ** 40, n: 8 }))
    })
  )

  it.effect("rejects a file whose N differs from the dataset's with BagShapeMismatch", () =>
    Effect.gen(function* () {
      const path = fixture("bags_int64.npy")
      expect(yield* Effect.flip(readBagsNpy(path, { n: 10 }))).toEqual(new BagShapeMismatch({ path, expectedN: 10, actualN: 8 }))
    })
  )

  it.effect("rejects float32 bags, bad magic, truncated data and a missing file", () =>
    Effect.gen(function* () {
      expect((yield* Effect.flip(readBagsNpy(fixture("features_f32.npy"))))._tag).toBe("NpyUnsupportedDtype")
      const dir = tmp()
      writeFileSync(join(dir, "magic.npy"), "PK\u0003\u0004 not a npy file")
      expect((yield* Effect.flip(readNpy(join(dir, "magic.npy")))).message).toMatch(/magic\.npy: .*NUMPY magic/)
      writeFileSync(join(dir, "cut.npy"), readFileSync(fixture("bags_int64.npy")).subarray(0, 300))
      expect((yield* Effect.flip(readNpy(join(dir, "cut.npy")))).message).toMatch(/needs 320 data bytes, the file has 172/)
      const missing = yield* Effect.flip(readNpy(join(dir, "none.npy")))
      expect(missing._tag).toBe("BagFileError")
      expect(missing.message).toMatch(/cannot read .*none\.npy: ENOENT/)
    })
  )
})

describe("npy: round trips", () => {
  it.effect("int64 and int32 bags survive write + read, leaving no temp file", () =>
    Effect.gen(function* () {
      const dir = tmp()
      const n = 1000
      const k = 5
      const neighbours = Int32Array.from({ length: n * k }, (_, i) => (Math.floor(i / k) + 1 + (i % k) * 37) % n)
      const bags = makeBags(n, k, neighbours)
      for (const dtype of ["int64", "int32"] as const) {
        const path = join(dir, `bags_${dtype}.npy`)
        yield* writeBagsNpy(path, bags, dtype)
        expect((yield* readNpy(path)).dtype).toBe(dtype)
        const back = yield* readBagsNpy(path, { n })
        expect(back.k).toBe(k)
        expect(Array.from(back.neighbours)).toEqual(Array.from(neighbours))
      }
      expect(readdirSync(dir).sort()).toEqual(["bags_int32.npy", "bags_int64.npy"])
    })
  )

  it.effect("float32 and 1-D arrays round trip", () =>
    Effect.gen(function* () {
      const dir = tmp()
      const data = Float32Array.from([1.5, -2, 1e-30, 3e30, 0, -0])
      yield* writeNpy(join(dir, "f.npy"), { dtype: "float32", shape: [3, 2], data })
      const back = yield* readNpy(join(dir, "f.npy"))
      expect(back.shape).toEqual([3, 2])
      expect(Array.from(back.data as Float32Array)).toEqual(Array.from(data))
      yield* writeNpy(join(dir, "v.npy"), { dtype: "int32", shape: [3], data: Int32Array.from([7, -8, 9]) })
      expect(new TextDecoder().decode(readFileSync(join(dir, "v.npy")).subarray(10, 80))).toContain("'shape': (3,), }")
      expect(Array.from((yield* readNpy(join(dir, "v.npy"))).data as Int32Array)).toEqual([7, -8, 9])
    })
  )
})
