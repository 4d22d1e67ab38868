import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, writeFileSync, writeSync } from "node:fs"
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

/** A file being written piece by piece that appears at its path only when `commit` succeeds. */
export interface AtomicFile {
  /** The temporary file the bytes go to (`.<name>.<pid>.<ms>.tmp` next to the target). */
  readonly tempPath: string
  /** Append bytes (synchronously). */
  readonly append: (bytes: Uint8Array) => void
  /** Flush to disk, close and rename over the target (then flush the directory). */
  readonly commit: () => void
  /** Close and delete the temporary file; the target is untouched. Safe to call after `commit`. */
  readonly abort: () => void
}

/**
 * `atomicWrite` for files too big to build in memory: open a temporary file next to `path`,
 * `append` to it, then `commit` (fsync, rename over `path`, fsync the directory) or `abort`.
 * Until `commit`, readers see the old file (or none); a process killed mid-write leaves only a
 * temp file, which `removeStaleTempFiles` deletes.
 */
export const openAtomicFile = (path: string): AtomicFile => {
  const dir = dirname(path)
  mkdirSync(dir, { recursive: true })
  const tmp = tempPath(path)
  let fd: number | undefined = openSync(tmp, "wx")
  let done = false
  const close = () => {
    if (fd === undefined) return
    const f = fd
    fd = undefined
    closeSync(f)
  }
  return {
    tempPath: tmp,
    append: (bytes) => {
      if (fd === undefined) throw new Error(`atomic file ${path}: append after commit or abort`)
      let off = 0
      while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off)
    },
    commit: () => {
      if (fd === undefined) throw new Error(`atomic file ${path}: commit after commit or abort`)
      try {
        fsyncSync(fd)
        close()
        renameSync(tmp, path)
        done = true
      } catch (e) {
        try {
          close()
        } finally {
          rmSync(tmp, { force: true })
        }
        throw e
      }
      try {
        fsyncPath(dir)
      } catch {
        // see atomicWrite
      }
    },
    abort: () => {
      if (done) return
      try {
        close()
      } finally {
        rmSync(tmp, { force: true })
      }
    }
  }
}

const isRunning = (pid: number): boolean => {
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
    const stale = pid === process.pid ? writtenAt < startedAt : !isRunning(pid)
    if (!stale) continue
    rmSync(join(dir, name), { force: true })
    removed.push(name)
  }
  return removed
}
