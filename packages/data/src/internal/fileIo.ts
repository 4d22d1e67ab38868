import { Effect } from "effect"
import { readdir, readFile, stat } from "node:fs/promises"
import { DatasetNotFound } from "../DatasetError.ts"

const errorCode = (e: unknown): string => (e as { code?: string }).code ?? String(e)

/** The bytes of a file; a missing or unreadable file is `DatasetNotFound` naming it. */
export const readBytes = (path: string): Effect.Effect<Uint8Array, DatasetNotFound> =>
  Effect.tryPromise({
    try: () => readFile(path),
    catch: (e) => new DatasetNotFound({ path, reason: errorCode(e) })
  }).pipe(Effect.map((b) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength)))

/** Whether a path exists and is a directory. */
export const isDirectory = (path: string): Effect.Effect<boolean> =>
  Effect.promise(() =>
    stat(path).then(
      (s) => s.isDirectory(),
      () => false
    )
  )

/** Whether a path exists and is a file. */
export const isFile = (path: string): Effect.Effect<boolean> =>
  Effect.promise(() =>
    stat(path).then(
      (s) => s.isFile(),
      () => false
    )
  )

/** A directory's entries; a missing directory is `DatasetNotFound`. */
export const listDirectory = (path: string): Effect.Effect<ReadonlyArray<string>, DatasetNotFound> =>
  Effect.tryPromise({
    try: () => readdir(path),
    catch: (e) => new DatasetNotFound({ path, reason: errorCode(e) })
  })

/** Fail with `DatasetNotFound` unless `path` is a directory. */
export const requireDirectory = (path: string): Effect.Effect<void, DatasetNotFound> =>
  Effect.flatMap(isDirectory(path), (ok) => (ok ? Effect.void : Effect.fail(new DatasetNotFound({ path, reason: "no such directory" }))))
