import { beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { folderName, limitListing, listImageFolder } from "../../src/formats/listImageFolder.ts"
import { folderImages, tempDir, writeImage, writeImageFolder } from "../fixtures.ts"

let root = ""
beforeAll(async () => {
  root = tempDir("list")
  await writeImageFolder(root)
})

describe("listImageFolder", () => {
  it.effect("classes are the sorted sub-folders; files sorted, nested ones included, others ignored", () =>
    Effect.gen(function* () {
      const listing = yield* listImageFolder(root)
      expect(listing.classNames).toEqual(["cat", "dog", "fish"])
      expect(listing.files).toEqual(folderImages.map((f) => join(root, f.file)))
      expect(Array.from(listing.labels!)).toEqual(folderImages.map((f) => f.label))
    })
  )

  it.effect("extensions match in any case", () =>
    Effect.gen(function* () {
      const dir = tempDir("list-case")
      yield* Effect.promise(() => writeImage(join(dir, "a", "X.JPEG"), { width: 2, height: 2, channels: 3, pixel: [0, 0, 0] }))
      expect((yield* listImageFolder(dir)).files).toEqual([join(dir, "a", "X.JPEG")])
    })
  )

  it.effect("a missing directory is DatasetNotFound naming it", () =>
    Effect.gen(function* () {
      const dir = join(tempDir("list-missing"), "nope")
      expect(yield* Effect.flip(listImageFolder(dir))).toMatchObject({ _tag: "DatasetNotFound", path: dir })
    })
  )

  it.effect("a folder without class folders, or with no image in them, is EmptyDataset naming it", () =>
    Effect.gen(function* () {
      const bare = tempDir("list-bare")
      writeFileSync(join(bare, "loose.png"), "")
      const error = yield* Effect.flip(listImageFolder(bare))
      expect(error).toMatchObject({ _tag: "EmptyDataset", path: bare })
      expect(error.message).toMatch(/no class folder/)
      const noImages = tempDir("list-noimages")
      mkdirSync(join(noImages, "a"))
      writeFileSync(join(noImages, "a", "readme.txt"), "")
      const error2 = yield* Effect.flip(listImageFolder(noImages))
      expect(error2).toMatchObject({ _tag: "EmptyDataset", path: noImages })
      expect(error2.message).toContain(noImages)
    })
  )

  it.effect("with the training classes, a test class folder they lack is DatasetFormatError naming it", () =>
    Effect.gen(function* () {
      const listing = yield* listImageFolder(root, { classNames: ["cat", "dog", "fish", "zebra"] })
      expect(listing.classNames).toHaveLength(4)
      const error = yield* Effect.flip(listImageFolder(root, { classNames: ["cat", "dog"] }))
      expect(error).toMatchObject({ _tag: "DatasetFormatError", path: join(root, "fish") })
    })
  )
})

describe("folderName", () => {
  it("is the folder's own name, or its parent's when the folder is a split (train, test, val, ...)", () => {
    expect(folderName("/data/pets")).toBe("pets")
    expect(folderName("/data/pets/")).toBe("pets")
    expect(folderName("/data/fashion/train")).toBe("fashion")
    expect(folderName("/data/fashion/test/")).toBe("fashion")
    for (const split of ["training", "Validation", "val", "valid", "testing", "TRAIN"]) {
      expect(folderName(`/x/cifar-png/${split}`)).toBe("cifar-png")
    }
    expect(folderName("/data/trainers")).toBe("trainers")
    expect(folderName("/train")).toBe("train") // no parent to name it by
  })
})

describe("limitListing", () => {
  it.effect("keeps files spread evenly over the listing", () =>
    Effect.gen(function* () {
      const listing = yield* listImageFolder(root)
      const three = limitListing(listing, 3)
      expect(three.files).toEqual([0, 2, 4].map((i) => listing.files[i]))
      expect(Array.from(three.labels!)).toEqual([0, 1, 2])
      expect(limitListing(listing, 100)).toBe(listing)
    })
  )
})
