export * from "./Trainer.ts"
export * from "./TrainerError.ts"
export * from "./distillationObjective.ts"
// the loop's errors, which distil fails with
export { CheckpointError, TrainingCollapsed, TrainingDiverged } from "@bingo/training"
