import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { existsSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { gzipSync } from "node:zlib"
import { defaultDigitsFile, loadDigits, splitDigits } from "../../src/formats/loadDigits.ts"
import { tempDir, writeDigitsCsv } from "../fixtures.ts"

const classCounts = (labels: Int32Array): Array<number> => {
  const counts = new Array(10).fill(0)
  for (const l of labels) counts[l]++
  return counts
}

describe("loadDigits", () => {
  it.effect("reads the CSV: 8x8x1 images in [0, 1] (pixel / 16), labels 0..9, class names '0'..'9'", () =>
    Effect.gen(function* () {
      const file = writeDigitsCsv(tempDir("digits"), 50)
      const { train, test } = yield* loadDigits({ file })
      // 5 images per class, round(0.2 x 5) = 1 of each held out
      expect([train.size, test!.size]).toEqual([40, 10])
      expect([train.height, train.width, train.channels]).toEqual([8, 8, 1])
      expect([train.name, test!.name]).toEqual(["digits", "digits/test"])
      expect(train.numClasses).toBe(10)
      expect(train.classNames).toEqual(["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"])
      expect(classCounts(train.labels!)).toEqual(new Array(10).fill(4))
      expect(classCounts(test!.labels!)).toEqual(new Array(10).fill(1))
      expect(train.images.every((v) => v >= 0 && v <= 1)).toBe(true)
      // the fixture's image i has label i % 10 and pixel p = (i + p) % 17, so each kept image can be
      // traced back to its line i: the only i < 50 with i % 17 = 16 x first pixel and i % 10 = label
      for (const ds of [train, test!]) {
        for (let j = 0; j < ds.size; j++) {
          const first = Math.round(ds.images[j * 64]! * 16)
          const i = [...Array(50).keys()].find((k) => k % 17 === first && k % 10 === ds.labels![j])!
          for (let p = 0; p < 64; p++) expect(ds.images[j * 64 + p]).toBe(((i + p) % 17) / 16)
        }
      }
    })
  )

  it.effect("the split is stratified, seeded, deterministic and disjoint; testFraction 0 gives no test split", () =>
    Effect.gen(function* () {
      const labels = Int32Array.from({ length: 200 }, (_, i) => i % 10)
      const a = splitDigits(labels, 0.25, 7)
      const b = splitDigits(labels, 0.25, 7)
      expect(Array.from(a.test)).toEqual(Array.from(b.test))
      expect(Array.from(a.train)).toEqual(Array.from(b.train))
      expect(a.test.length).toBe(50) // round(0.25 x 20) = 5 per class
      for (let c = 0; c < 10; c++) expect(a.test.filter((i) => labels[i] === c).length).toBe(5)
      const train = new Set(a.train)
      expect(a.test.some((i) => train.has(i))).toBe(false)
      expect(new Set([...a.train, ...a.test]).size).toBe(200)
      expect(Array.from(splitDigits(labels, 0.25, 8).test)).not.toEqual(Array.from(a.test))

      const file = writeDigitsCsv(tempDir("digits-split"), 60)
      const first = yield* loadDigits({ file, seed: 3 })
      const again = yield* loadDigits({ file, seed: 3 })
      expect(Array.from(again.test!.images)).toEqual(Array.from(first.test!.images))
      expect(Array.from(again.train.labels!)).toEqual(Array.from(first.train.labels!))
      const none = yield* loadDigits({ file, testFraction: 0 })
      expect(none.test).toBeUndefined()
      expect(none.train.size).toBe(60)
    })
  )

  it.effect("size 16 upsamples bilinearly (half-pixel centres) to 16x16", () =>
    Effect.gen(function* () {
      const file = writeDigitsCsv(tempDir("digits-up"), 20)
      const small = yield* loadDigits({ file, testFraction: 0 })
      const big = yield* loadDigits({ file, testFraction: 0, size: 16 })
      expect([big.train.size, big.train.height, big.train.width, big.train.channels]).toEqual([20, 16, 16, 1])
      expect(big.train.images.length).toBe(20 * 256)
      expect(big.train.images.every((v) => v >= 0 && v <= 1)).toBe(true)
      // output row 0 samples source row 0 (clamped); output (1, 1) sits at source (0.25, 0.25)
      const s = (y: number, x: number) => small.train.images[y * 8 + x]!
      expect(big.train.images[0]).toBeCloseTo(s(0, 0), 6)
      const top = s(0, 0) * 0.75 + s(0, 1) * 0.25
      const bottom = s(1, 0) * 0.75 + s(1, 1) * 0.25
      expect(big.train.images[16 + 1]).toBeCloseTo(top * 0.75 + bottom * 0.25, 6)
      expect(Array.from(big.train.labels!)).toEqual(Array.from(small.train.labels!))
    })
  )

  it.effect("a missing file is DatasetNotFound naming it and saying apt-get install python3-sklearn", () =>
    Effect.gen(function* () {
      const file = join(tempDir("digits-none"), "digits.csv.gz")
      const error = yield* Effect.flip(loadDigits({ file }))
      expect(error._tag).toBe("DatasetNotFound")
      expect(error).toMatchObject({ path: file })
      expect(error.message).toContain(file)
      expect(error.message).toMatch(/apt-get install python3-sklearn/)
    })
  )

  it.effect("a malformed line is a DatasetFormatError naming the file and the line", () =>
    Effect.gen(function* () {
      const dir = tempDir("digits-bad")
      const file = join(dir, "digits.csv.gz")
      const good = [...new Array(64).fill(3), 1].join(",")
      writeFileSync(file, gzipSync(`${good}\n${[...new Array(64).fill(3), 1, 2].join(",")}\n`))
      const columns = yield* Effect.flip(loadDigits({ file }))
      expect(columns).toMatchObject({ _tag: "DatasetFormatError", path: file })
      expect(columns.message).toMatch(/line 2 has 66 columns/)
      writeFileSync(file, gzipSync(`${good}\n${[...new Array(63).fill(3), 17, 1].join(",")}\n`))
      const pixel = yield* Effect.flip(loadDigits({ file }))
      expect(pixel.message).toMatch(/line 2, column 64: pixel '17'/)
    })
  )

  // Debian's `python3-sklearn` package (installed by CI); BINGO_DIGITS_FILE overrides.
  const digitsFile = process.env["BINGO_DIGITS_FILE"] ?? defaultDigitsFile
  const haveDigits = existsSync(digitsFile)
  if (!haveDigits) {
    console.warn(`skipping the real digits test: ${digitsFile} not found (apt-get install python3-sklearn)`)
  }
  it.effect.skipIf(!haveDigits)(
    `reads the real scikit-learn digits from ${digitsFile}`,
    () =>
      Effect.gen(function* () {
        const { train, test } = yield* loadDigits({ file: digitsFile })
        // 1,797 images; round(0.2 x class size) of each class held out: 359 test
        expect([train.size, test!.size]).toEqual([1438, 359])
        expect([train.height, train.width, train.channels]).toEqual([8, 8, 1])
        const all = classCounts(train.labels!).map((n, c) => n + classCounts(test!.labels!)[c]!)
        expect(all).toEqual([178, 182, 177, 183, 181, 182, 181, 179, 174, 180])
        let mean = 0
        let max = 0
        for (const ds of [train, test!]) {
          for (const v of ds.images) {
            mean += v
            max = Math.max(max, v)
          }
        }
        expect(max).toBe(1)
        expect(mean / (1797 * 64)).toBeCloseTo(0.30526, 4)
      }),
    30_000
  )
})
