/**
 * Writes the page's gallery and, with `--student`, copies a run's exported student next to it.
 *
 *   pnpm tsx make-gallery.ts                                              # gallery/ only
 *   pnpm tsx make-gallery.ts --student ../../runs/quickstart/student-tfjs  # and student-tfjs/
 *
 * The gallery is the first 60 images of the quickstart's shapes test split (16x16 grey, the
 * dataset `examples/quickstart/bingo.yaml` names: seed 0, 1,000 test images), as PNGs, with
 * `gallery.json` listing each file, its label and class name. Neither the student nor the
 * gallery changes unless this script runs again.
 */
import { encodePng, imageAt, loadShapes, shapeClassNames } from "@bingo/data"
import { Effect } from "effect"
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { join, resolve } from "node:path"

const here = import.meta.dirname
export const gallerySize = 60

export interface GalleryEntry {
  readonly file: string
  readonly label: number
  readonly className: string
}

const writeGallery = Effect.gen(function* () {
  const { test } = yield* loadShapes({ trainSize: 0, testSize: 1000, size: 16, seed: 0, channels: 1 })
  const dir = join(here, "gallery")
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir)
  const entries: Array<GalleryEntry> = []
  for (let i = 0; i < gallerySize; i++) {
    const file = `${String(i).padStart(2, "0")}.png`
    writeFileSync(join(dir, file), yield* encodePng(imageAt(test!, i), test!))
    const label = test!.labels![i]!
    entries.push({ file, label, className: shapeClassNames[label]! })
  }
  writeFileSync(join(dir, "gallery.json"), `${JSON.stringify(entries, null, 2)}\n`)
  console.log(`wrote ${gallerySize} images and gallery.json to ${dir}`)
})

/** Copies model.json and the weight files it names (nothing else) into student-tfjs/. */
const copyStudent = (from: string) => {
  const to = join(here, "student-tfjs")
  const json = JSON.parse(readFileSync(join(from, "model.json"), "utf8")) as { weightsManifest: Array<{ paths: Array<string> }> }
  mkdirSync(to, { recursive: true })
  for (const f of readdirSync(to)) rmSync(join(to, f))
  for (const f of ["model.json", ...json.weightsManifest.flatMap((g) => g.paths)]) copyFileSync(join(from, f), join(to, f))
  console.log(`copied the student from ${resolve(from)} to ${to}`)
}

const args = process.argv.slice(2)
const at = args.indexOf("--student")
if (at >= 0) {
  if (args[at + 1] === undefined) throw new Error("--student needs a folder (a run's <outDir>/student-tfjs)")
  copyStudent(args[at + 1]!)
}
await Effect.runPromise(writeGallery)
