import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs"
import { basename, dirname, join } from "node:path"

/** `.<name>.<pid>.<ms>.tmp`: the temporary file `atomicWrite` writes before renaming it over `<name>`. */
const TEMP_NAME = /^\.(.+)\.(\d+)\.(\d+)\.tmp$/

const tempPath = (path: string): string => join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.tmp`)

const fsyncPath = (path: string): void => {
  const fd = openSync(path, "r")
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}

/**
 * Write a file atomically: the bytes go to a temporary file in the same directory
 * (`.<name>.<pid>.<ms>.tmp`), are flushed to disk, and the temp file is renamed over the
 * target; the directory is then flushed so the rename itself survives a crash. A reader (or a
 * run killed mid-write) sees either the old file or the new one, never half of one. A failed
 * write removes its temp file; one left by a killed process is removed by `removeStaleTempFiles`.
 */
export const atomicWrite = (path: string, data: string | Uint8Array): void => {
  const dir = dirname(path)
  mkdirSync(dir, { recursive: true })
  const tmp = tempPath(path)
  try {
    writeFileSync(tmp, data)
    fsyncPath(tmp)
    renameSync(tmp, path)
  } catch (e) {
    rmSync(tmp, { force: true })
    throw e
  }
  try {
    fsyncPath(dir)
  } catch {
    // some file systems cannot fsync a directory; the rename has happened either way
  }
}

/** Whether a process with this pid exists (also when it belongs to another user). */
export const isProcessRunning = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    // EPERM: the process exists but belongs to someone else
    return (e as NodeJS.ErrnoException).code === "EPERM"
  }
}

/**
 * Delete the temporary files that `atomicWrite` calls in `dir` left behind when their process
 * was killed mid-write (they are never results: the target was not replaced). A temp file is
 * stale when its writer's pid is not running, or is this process's pid but the file predates
 * this process (a recycled pid). Temp files of other live processes are left alone. Returns
 * the names removed; a missing `dir` has none.
 */
export const removeStaleTempFiles = (dir: string): ReadonlyArray<string> => {
  let names: Array<string>
  try {
    names = readdirSync(dir)
  } catch {
    return []
  }
  const startedAt = Date.now() - process.uptime() * 1000
  const removed: Array<string> = []
  for (const name of names) {
    const m = TEMP_NAME.exec(name)
    if (m === null) continue
    const pid = Number(m[2])
    const writtenAt = Number(m[3])
    const stale = pid === process.pid ? writtenAt < startedAt : !isProcessRunning(pid)
    if (!stale) continue
    rmSync(join(dir, name), { force: true })
    removed.push(name)
  }
  return removed
}
