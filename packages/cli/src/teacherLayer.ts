import { join, resolve } from "node:path"
import type { AugmentConfig } from "@bingo/data"
import { teacherRegistry } from "@bingo/teacher"
import type { StepReport } from "@bingo/training"
import type { PipelineConfig } from "./PipelineConfig.ts"

/** What the teacher's layer needs from the run besides its config section. */
export interface TeacherContext {
  readonly configDir: string
  readonly outDir: string
  /** The run's augmentation, view size filled in: the views the teacher is fed. */
  readonly augment: AugmentConfig
  /** The dataset's channels. */
  readonly channels: number
  readonly seed: number
  readonly metrics: { readonly path: string; readonly every: number }
  /** Called after every pre-training step (`bingo run`'s progress bar). */
  readonly onStep?: ((report: StepReport) => void) | undefined
}

/**
 * The Teacher layer a config's `teacher` section asks for, from the teacher registry's entry for
 * its `weightsFormat` (bingo: loaded, or pre-trained here with MoCo-v2 into
 * <outDir>/teacher.safetensors; torchvision; onnx; tfjs). The keys were checked against the entry
 * by loadConfig.
 */
export const teacherLayer = (
  config: PipelineConfig & { readonly teacher: { readonly pretrain: { readonly queueSize: number } } },
  context: TeacherContext
) => {
  const teacher = config.teacher
  return teacherRegistry[teacher.weightsFormat].layer({
    teacher: { ...teacher, weights: teacher.weights === undefined ? undefined : resolve(context.configDir, teacher.weights) },
    views: { augment: context.augment, channels: context.channels },
    pretrain: {
      moco: { ...teacher.pretrain, logEvery: 0, metrics: context.metrics, onStep: context.onStep },
      seed: context.seed,
      weightsPath: join(context.outDir, "teacher.safetensors")
    }
  })
}
