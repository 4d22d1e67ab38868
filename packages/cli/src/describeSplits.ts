import { type DatasetSplits, type ImageSource, isImageDataset } from "@bingo/data"
import { readdirSync, statSync } from "node:fs"
import { join } from "node:path"

const count = (n: number) => n.toLocaleString("en-US")

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`

/** One line for a split: size, shape, classes and where its pixels are. */
const describeSplit = (split: string, source: ImageSource): string => {
  const classes = source.numClasses ?? (source.labels === undefined ? undefined : new Set(source.labels).size)
  const where = isImageDataset(source) ? `in memory (${mib(source.images.byteLength)})` : `read on demand from ${source.location}`
  return (
    `${split}: ${count(source.size)} images of ${source.height}x${source.width}x${source.channels}` +
    `${classes === undefined ? ", unlabelled" : `, ${classes} classes`}, ${where}`
  )
}

/**
 * What `bingo data` prints: each split, then the image caches in `cacheDir` (when the dataset
 * has one) with their sizes.
 */
export const describeSplits = (datasetName: string, splits: DatasetSplits, cacheDir?: string): string => {
  const lines = [`dataset ${datasetName}`, `  ${describeSplit("train", splits.train)}`]
  if (splits.test !== undefined) lines.push(`  ${describeSplit("test", splits.test)}`)
  if (cacheDir !== undefined) {
    const files = readdirSync(cacheDir)
      .filter((f) => f.endsWith(".bingoimg"))
      .sort()
    lines.push(`image caches in ${cacheDir}:`)
    for (const f of files) lines.push(`  ${f} (${mib(statSync(join(cacheDir, f)).size)})`)
  }
  return lines.join("\n")
}
