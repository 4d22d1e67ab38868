export * from "./pretrainMoco.ts"
export * from "./Teacher.ts"
export * from "./TeacherError.ts"
