import * as tf from "@tensorflow/tfjs"
import { Effect } from "effect"
import { MissingWeights, WeightShapeMismatch } from "./BackboneError.ts"
import type { Encoder } from "./Encoder.ts"
import type { LayerOp, Network } from "./Network.ts"
import { readWeights } from "./weights.ts"

/** A tensor as read from a PyTorch state dict: PyTorch layout (OIHW convs, [out, in] linears). */
export interface TorchTensor {
  readonly shape: ReadonlyArray<number>
  readonly data: Float32Array
}

export interface TorchImportOptions {
  /**
   * Prefix to strip from the checkpoint's names. Default: detected, see `TORCH_PREFIXES`.
   * Pass "" for a bare torchvision state dict when detection would pick something else.
   */
  readonly prefix?: string
  /**
   * Encoders only. "require" (default): import the projection head from MoCo-v2's
   * `fc.0` (Linear) / `fc.2` (Linear) and fail if it is missing; "skip": backbone only,
   * the head keeps its weights (e.g. a supervised torchvision checkpoint with a single `fc`).
   */
  readonly head?: "require" | "skip"
}

export interface TorchImportReport {
  /** The prefix that was stripped. */
  readonly prefix: string
  /** Parameters assigned, by their bingo name. */
  readonly imported: ReadonlyArray<string>
  /** Checkpoint tensors that were not used (other encoders, queues, classifiers), num_batches_tracked excluded. */
  readonly unused: ReadonlyArray<string>
}

/**
 * Prefixes tried, in this order, when none is given: MoCo (`module.encoder_q.` from
 * DistributedDataParallel, `encoder_q.`), wrappers that keep the network under `backbone.` or
 * `model.`, plain DataParallel (`module.`), and none. Any other prefix under which the
 * network's names appear is found too; the prefix matching the most names wins, and on a
 * tie the earlier one here (so `encoder_q` beats `encoder_k`).
 */
export const TORCH_PREFIXES: ReadonlyArray<string> = [
  "module.encoder_q.",
  "encoder_q.",
  "module.backbone.",
  "backbone.",
  "module.model.",
  "model.",
  "module.",
  ""
]

interface Slot {
  /** bingo name in the target's params. */
  readonly target: string
  /** PyTorch name without prefix. */
  readonly source: string
  readonly variable: tf.Variable
  readonly kind: "conv" | "depthwise" | "linear" | "vector"
}

/**
 * Assign a PyTorch state dict (torchvision names) to a network or an encoder, converting
 * layouts: conv OIHW -> HWIO, depthwise [C, 1, kh, kw] -> [kh, kw, C, 1], Linear [out, in] ->
 * [in, out]; batch-norm weight, bias, running_mean and running_var as they are;
 * `num_batches_tracked` is skipped. For an encoder, `backbone.*` parameters come from the
 * torchvision names and the head's `fc0` / `fc1` from MoCo-v2's `fc.0` / `fc.2`.
 * Every name and shape is checked before anything is assigned: a missing tensor is a
 * `MissingWeights` error listing all of them, a wrong shape a `WeightShapeMismatch` naming the
 * tensor and both shapes (in PyTorch layout).
 */
export const importTorchvisionWeights = (
  target: Network | Encoder,
  tensors: ReadonlyMap<string, TorchTensor>,
  path: string,
  options: TorchImportOptions = {}
): Effect.Effect<TorchImportReport, MissingWeights | WeightShapeMismatch> =>
  Effect.gen(function* () {
    const slots = slotsOf(target, options.head ?? "require")
    const prefix = options.prefix ?? detectPrefix(slots, tensors)
    const missing = slots.filter((s) => !tensors.has(prefix + s.source)).map((s) => prefix + s.source)
    if (missing.length > 0) return yield* new MissingWeights({ path, prefix, missing })
    for (const s of slots) {
      const actual = tensors.get(prefix + s.source)!.shape
      const expected = torchShape(s)
      if (actual.length !== expected.length || actual.some((d, i) => d !== expected[i])) {
        return yield* new WeightShapeMismatch({ path, tensor: prefix + s.source, expected, actual: [...actual] })
      }
    }
    tf.tidy(() => {
      for (const s of slots) {
        const t = tensors.get(prefix + s.source)!
        const value = tf.tensor(t.data, [...t.shape], "float32")
        s.variable.assign(
          s.kind === "conv"
            ? value.transpose([2, 3, 1, 0])
            : s.kind === "depthwise"
              ? value.transpose([2, 3, 0, 1])
              : s.kind === "linear"
                ? value.transpose([1, 0])
                : value
        )
      }
    })
    const used = new Set(slots.map((s) => prefix + s.source))
    return {
      prefix,
      imported: slots.map((s) => s.target),
      unused: [...tensors.keys()].filter((k) => !used.has(k) && !k.endsWith("num_batches_tracked"))
    }
  })

/**
 * Read a `.safetensors` export of a PyTorch checkpoint and import it with
 * `importTorchvisionWeights`. Unreadable files are `WeightFileError`s.
 */
export const loadTorchvisionSafetensors = Effect.fn("loadTorchvisionSafetensors")(function* (
  path: string,
  target: Network | Encoder,
  options: TorchImportOptions = {}
) {
  const file = yield* readWeights(path)
  const report = yield* importTorchvisionWeights(target, file.tensors, path, options)
  yield* Effect.logDebug(`${path}: imported ${report.imported.length} tensors (prefix '${report.prefix}'), ${report.unused.length} unused`)
  return report
})

const isEncoder = (t: Network | Encoder): t is Encoder => "backbone" in t && "head" in t

/** Names of depthwise kernels in a graph. */
const depthwiseWeights = (graph: ReadonlyArray<LayerOp> | undefined, out = new Set<string>()): Set<string> => {
  for (const op of graph ?? []) {
    if (op.op === "depthwiseConv2d") out.add(op.weight)
    if (op.op === "residual") {
      depthwiseWeights(op.body, out)
      depthwiseWeights(op.shortcut, out)
    }
  }
  return out
}

const networkSlots = (net: Network, targetPrefix: string, rename: (name: string) => string): Array<Slot> => {
  const depthwise = depthwiseWeights(net.graph)
  return [...net.params].map(([name, variable]) => ({
    target: targetPrefix + name,
    source: rename(name),
    variable,
    kind: depthwise.has(name) ? "depthwise" : variable.rank === 4 ? "conv" : variable.rank === 2 ? "linear" : "vector"
  }))
}

/** MoCo-v2's head `fc = Sequential(Linear, ReLU, Linear)`: our fc0 / fc1 are its fc.0 / fc.2. */
const mocoHeadName = (name: string): string => name.replace(/^fc(\d+)\./, (_, i: string) => `fc.${2 * Number(i)}.`)

const slotsOf = (target: Network | Encoder, head: "require" | "skip"): Array<Slot> =>
  isEncoder(target)
    ? [
        ...networkSlots(target.backbone, "backbone.", (n) => n),
        ...(head === "skip" ? [] : networkSlots(target.head, "head.", mocoHeadName))
      ]
    : networkSlots(target, "", (n) => n)

const torchShape = (s: Slot): Array<number> => {
  const [a, b, c, d] = s.variable.shape
  switch (s.kind) {
    case "conv":
      return [d!, c!, a!, b!]
    case "depthwise":
      return [c!, d!, a!, b!]
    case "linear":
      return [b!, a!]
    case "vector":
      return [...s.variable.shape]
  }
}

const detectPrefix = (slots: ReadonlyArray<Slot>, tensors: ReadonlyMap<string, TorchTensor>): string => {
  const found = new Set<string>()
  for (const name of tensors.keys()) {
    for (const s of slots) if (name.endsWith(s.source)) found.add(name.slice(0, name.length - s.source.length))
  }
  const candidates = [...TORCH_PREFIXES, ...[...found].filter((p) => !TORCH_PREFIXES.includes(p)).sort()]
  let best = ""
  let bestCount = -1
  for (const p of candidates) {
    const count = slots.reduce((n, s) => (tensors.has(p + s.source) ? n + 1 : n), 0)
    if (count > bestCount) {
      best = p
      bestCount = count
    }
  }
  return bestCount > 0 ? best : ""
}
