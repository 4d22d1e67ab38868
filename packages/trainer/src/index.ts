export * from "./Trainer.ts"
export * from "./TrainerError.ts"
export * from "./TrainingState.ts"
