import { mkdirSync, renameSync, writeFileSync, openSync, fsyncSync, closeSync } from "node:fs"
import { dirname, basename, join } from "node:path"

/**
 * Write a file atomically: the bytes go to a temporary file in the same directory, are
 * flushed to disk, and the temp file is renamed over the target. A reader (or a run killed
 * mid-write) sees either the old file or the new one, never half of one.
 */
export const atomicWrite = (path: string, data: string | Uint8Array): void => {
  const dir = dirname(path)
  mkdirSync(dir, { recursive: true })
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${Date.now()}.tmp`)
  writeFileSync(tmp, data)
  const fd = openSync(tmp, "r")
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  renameSync(tmp, path)
}
