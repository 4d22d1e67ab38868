import { type ChildProcess, spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { dirname, join, resolve } from "node:path"

/** The repository root (where `tsx` is installed) and the `bingo` entry point. */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../../..")
const mainTs = join(repoRoot, "packages/cli/src/main.ts")

export interface CliRun {
  readonly child: ChildProcess
  /** Resolves when the process has exited (code null when killed by a signal). */
  readonly done: Promise<{
    readonly code: number | null
    readonly signal: NodeJS.Signals | null
    readonly stdout: string
    readonly stderr: string
  }>
  /** stdout so far. */
  readonly stdout: () => string
}

/** Start `bingo <args>` exactly as a user does (`node --conditions=@bingo/source --import tsx main.ts`). */
export const spawnCli = (args: ReadonlyArray<string>): CliRun => {
  const child = spawn(process.execPath, ["--conditions=@bingo/source", "--import", "tsx", mainTs, ...args], {
    cwd: repoRoot,
    env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "0" },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let stdout = ""
  let stderr = ""
  child.stdout!.setEncoding("utf8").on("data", (d: string) => (stdout += d))
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d))
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((ok, fail) => {
    child.on("error", fail)
    child.on("close", (code, signal) => ok({ code, signal, stdout, stderr }))
  })
  return { child, done, stdout: () => stdout }
}

/** Run `bingo <args>` to the end. */
export const runCli = (args: ReadonlyArray<string>) => spawnCli(args).done

/** A line of a JavaScript stack trace (`    at f (file.ts:12:34)`), as opposed to a schema error's `at ["key"]`. */
export const stackLine = /^\s+at .*:\d+:\d+\)?$/m
