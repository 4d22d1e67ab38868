import { existsSync, readFileSync } from "node:fs"
import { createRequire } from "node:module"
import { cpus } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

/** An output buffer for the kernel to fill (src/OutputPool.ts); undefined: the addon allocates one. */
type Out = Float32Array | undefined

/**
 * The functions the C++ addon (native/*.cc) exports. Float32Arrays are passed without copies.
 * Each kernel's last argument is optional: the output(s) to write, of exactly the output's
 * length; the kernel returns them (or new arrays where none or a wrong size was given).
 */
export interface NativeAddon {
  readonly info: () => { readonly dnnl: string; readonly threads: number; readonly cores: number }
  /** Bytes and buffers the kernels allocated themselves (outputs not handed in), since loading. */
  readonly allocStats: () => { readonly bytes: number; readonly buffers: number }
  readonly setThreads: (n: number) => number
  readonly matmul: (
    a: Float32Array,
    b: Float32Array,
    batchA: number,
    batchB: number,
    m: number,
    k: number,
    n: number,
    transA: boolean,
    transB: boolean,
    out?: Out
  ) => Float32Array
  readonly conv: (kind: 0 | 1 | 2, a: Float32Array, b: Float32Array, geometry: ReadonlyArray<number>, out?: Out) => Float32Array
  readonly binary: (
    op: number,
    a: Float32Array,
    aShape: ReadonlyArray<number>,
    b: Float32Array,
    bShape: ReadonlyArray<number>,
    outShape: ReadonlyArray<number>,
    out?: Out
  ) => Float32Array
  readonly unary: (op: number, x: Float32Array, alpha: number, out?: Out) => Float32Array
  readonly reluGrad: (dy: Float32Array, x: Float32Array, out?: Out) => Float32Array
  readonly reduce: (op: number, x: Float32Array, outer: number, size: number, inner: number, out?: Out) => Float32Array
  readonly tile: (x: Float32Array, shape: ReadonlyArray<number>, reps: ReadonlyArray<number>, out?: Out) => Float32Array
  readonly batchNormTrain: (
    x: Float32Array,
    gamma: Float32Array,
    beta: Float32Array,
    rows: number,
    channels: number,
    eps: number,
    outs?: ReadonlyArray<Out>
  ) => [Float32Array, Float32Array, Float32Array, Float32Array]
  readonly batchNormGrad: (
    dy: Float32Array,
    x: Float32Array,
    gamma: Float32Array,
    mean: Float32Array,
    invStd: Float32Array,
    rows: number,
    channels: number,
    outs?: ReadonlyArray<Out>
  ) => [Float32Array, Float32Array, Float32Array]
  readonly topk: (
    x: Float32Array,
    rows: number,
    cols: number,
    k: number,
    outs?: readonly [Out, Int32Array | undefined]
  ) => [Float32Array, Int32Array, boolean]
  readonly batchNormInfer: (
    x: Float32Array,
    mean: Float32Array,
    variance: Float32Array,
    offset: Float32Array | null,
    scale: Float32Array | null,
    rows: number,
    channels: number,
    eps: number,
    out?: Out
  ) => Float32Array
}

/** Where `pnpm build:native` puts the addon. */
export const addonPath = join(dirname(fileURLToPath(import.meta.url)), "..", "native", "build", "Release", "bingo_native.node")

export interface ThreadChoice {
  readonly threads: number
  /** How the count was chosen, for the log line. */
  readonly why: string
}

/**
 * Threads for oneDNN and the element-wise loops. `BINGO_NATIVE_THREADS=<n>` forces a count;
 * otherwise all cores minus those other processes keep busy (sampled from /proc/stat over
 * 50 ms), at least one: two OpenMP threads on a machine whose second core is taken run
 * slower than one (../shared/docs/NATIVE.md, the prototype notes).
 */
export const chooseThreads = (env: NodeJS.ProcessEnv = process.env): ThreadChoice => {
  const cores = cpus().length
  const forced = env.BINGO_NATIVE_THREADS
  if (forced !== undefined && forced !== "" && forced !== "auto") {
    const n = Number(forced)
    if (Number.isInteger(n) && n >= 1) return { threads: n, why: `BINGO_NATIVE_THREADS=${n}` }
  }
  const busy = busyCores(50)
  if (busy === undefined) return { threads: cores, why: `${cores} cores` }
  const threads = Math.max(1, Math.min(cores, Math.round(cores - busy)))
  return { threads, why: `${cores} cores, ${busy.toFixed(1)} busy with other work` }
}

const cpuTimes = (): { readonly busy: number; readonly total: number } | undefined => {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n")[0]!
    const v = line.trim().split(/\s+/).slice(1).map(Number)
    const total = v.reduce((a, b) => a + b, 0)
    const idle = (v[3] ?? 0) + (v[4] ?? 0)
    return { busy: total - idle, total }
  } catch {
    return undefined
  }
}

/** Cores kept busy by other processes during `ms` milliseconds (this thread sleeps meanwhile). */
const busyCores = (ms: number): number | undefined => {
  const a = cpuTimes()
  if (a === undefined) return undefined
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)
  const b = cpuTimes()
  if (b === undefined || b.total === a.total) return undefined
  return ((b.busy - a.busy) / (b.total - a.total)) * cpus().length
}

let loaded: { readonly addon: NativeAddon } | { readonly error: string } | undefined

/**
 * Load the addon once. Sets `OMP_WAIT_POLICY=passive` first unless the environment sets it
 * (spinning OpenMP threads are what collapsed when another process held a core).
 * Never throws: a missing or unloadable addon is reported as `{ error }`.
 * `BINGO_NATIVE_DISABLE=1` makes it report the addon as unavailable (to compare backends).
 */
export const loadNativeAddon = (): { readonly addon: NativeAddon } | { readonly error: string } => {
  if (process.env.BINGO_NATIVE_DISABLE === "1") return { error: "disabled by BINGO_NATIVE_DISABLE=1" }
  if (loaded !== undefined) return loaded
  if (!existsSync(addonPath)) {
    loaded = { error: "addon not built (run `pnpm --filter @bingo/native-cpu build:native`; needs libdnnl-dev)" }
    return loaded
  }
  if (process.env.OMP_WAIT_POLICY === undefined && process.env.GOMP_SPINCOUNT === undefined) {
    process.env.OMP_WAIT_POLICY = "passive"
  }
  try {
    const addon = createRequire(import.meta.url)(addonPath) as NativeAddon
    loaded = { addon }
  } catch (e) {
    loaded = { error: `addon failed to load (${e instanceof Error ? e.message.split("\n")[0] : String(e)})` }
  }
  return loaded
}
