/**
 * Write Fashion-MNIST (the IDX files of Debian's `dataset-fashion-mnist`) as an image folder in
 * torchvision's layout, one PNG per image: <out>/train/<class>/<i>.png and <out>/test/<class>/<i>.png,
 * classes named after Fashion-MNIST's (t-shirt-top, trouser, ...). A stand-in for the folder of
 * JPEGs a user brings: bingo decodes it with sharp like any other.
 *
 *   pnpm --filter @bingo/example-image-folder make-folder -- --out ../../runs/fashion-folder [--train 6000] [--test 1000] [--dir /usr/share/datasets/fashion-mnist]
 *
 * `--train` / `--test` keep the first that many images of each split (Fashion-MNIST interleaves its classes).
 */
import { defaultIdxDir, type ImageDataset, loadIdx } from "@bingo/data"
import { Effect } from "effect"
import { mkdirSync } from "node:fs"
import { join, resolve } from "node:path"
import { parseArgs } from "node:util"
import sharp from "sharp"

/** "T-shirt/top" -> "t-shirt-top": a folder name. */
export const classFolder = (name: string): string =>
  name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-|-$/g, "")

/** Write every image of `ds` as <dir>/<class>/<i>.png (8 encodes in flight); returns the number written. */
export const writeFolder = async (ds: ImageDataset, dir: string): Promise<number> => {
  const len = ds.height * ds.width * ds.channels
  let next = 0
  const worker = async () => {
    while (next < ds.size) {
      const i = next++
      const classDir = join(dir, classFolder(ds.classNames![ds.labels![i]!]!))
      mkdirSync(classDir, { recursive: true })
      // the IDX bytes back: the loader stored byte b as b / 255
      const bytes = Uint8Array.from(ds.images.subarray(i * len, (i + 1) * len), (v) => Math.round(v * 255))
      await sharp(bytes, { raw: { width: ds.width, height: ds.height, channels: ds.channels as 1 } })
        .png()
        .toFile(join(classDir, `${i}.png`))
    }
  }
  await Promise.all(Array.from({ length: 8 }, worker))
  return ds.size
}

export const makeFolder = async (options: { out: string; dir?: string; train?: number; test?: number }) => {
  const { train, test } = await Effect.runPromise(
    loadIdx({
      dir: options.dir ?? defaultIdxDir,
      name: "fashion-mnist",
      limitTrain: options.train ?? 6000,
      limitTest: options.test ?? 1000
    })
  )
  const written = {
    train: await writeFolder(train, join(options.out, "train")),
    test: test === undefined ? 0 : await writeFolder(test, join(options.out, "test"))
  }
  return written
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  const { values } = parseArgs({
    options: {
      out: { type: "string", default: "../../runs/fashion-folder" },
      dir: { type: "string" },
      train: { type: "string" },
      test: { type: "string" }
    },
    allowPositionals: true
  })
  const started = performance.now()
  makeFolder({
    out: values.out,
    ...(values.dir === undefined ? {} : { dir: values.dir }),
    ...(values.train === undefined ? {} : { train: Number(values.train) }),
    ...(values.test === undefined ? {} : { test: Number(values.test) })
  }).then(
    (n) =>
      console.log(
        `wrote ${n.train} train and ${n.test} test PNG files under ${resolve(values.out)} in ${((performance.now() - started) / 1000).toFixed(1)} s`
      ),
    (e) => {
      console.error(`make-folder: ${e instanceof Error ? e.message : String(e)}`)
      process.exit(1)
    }
  )
}
