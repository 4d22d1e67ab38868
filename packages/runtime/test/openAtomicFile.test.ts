import { describe, expect, it } from "@effect/vitest"
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { openAtomicFile } from "../src/atomicWrite.ts"

const fresh = () => mkdtempSync(join(tmpdir(), "bingo-atomic-file-"))

describe("openAtomicFile", () => {
  it("the target appears only on commit, with every appended byte, and no temp file remains", () => {
    const dir = fresh()
    const path = join(dir, "sub", "data.bin")
    const file = openAtomicFile(path)
    file.append(Uint8Array.from([1, 2, 3]))
    file.append(new Uint8Array(0))
    file.append(Uint8Array.from([4]))
    expect(existsSync(path)).toBe(false)
    expect(existsSync(file.tempPath)).toBe(true)
    file.commit()
    expect([...readFileSync(path)]).toEqual([1, 2, 3, 4])
    expect(readdirSync(join(dir, "sub"))).toEqual(["data.bin"])
    file.abort() // after commit: nothing to undo
    expect(existsSync(path)).toBe(true)
  })

  it("abort leaves the old file untouched and removes the temp file; append after abort throws", () => {
    const dir = fresh()
    const path = join(dir, "data.bin")
    writeFileSync(path, "old")
    const file = openAtomicFile(path)
    file.append(Uint8Array.from([9, 9]))
    file.abort()
    expect(readFileSync(path, "utf8")).toBe("old")
    expect(readdirSync(dir)).toEqual(["data.bin"])
    expect(() => file.append(Uint8Array.from([1]))).toThrow(/append after commit or abort/)
    expect(() => file.commit()).toThrow(/commit after commit or abort/)
  })
})
