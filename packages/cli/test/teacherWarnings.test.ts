import { describe, expect, it } from "@effect/vitest"
import { teacherMargin, teacherWarnings } from "../src/teacherWarnings.ts"

describe("teacherWarnings", () => {
  it("no warning for a teacher more than 1 point above both random networks", () => {
    expect(teacherMargin).toBe(0.01)
    expect(teacherWarnings({ teacher: 0.62, randomTeacher: 0.4, randomStudent: 0.357 })).toEqual([])
    expect(teacherWarnings({ teacher: 0.411, randomTeacher: 0.4 })).toEqual([])
  })

  it("one line naming the random teacher when the teacher is not above it by more than 1 point", () => {
    const warnings = teacherWarnings({ teacher: 0.405, randomTeacher: 0.4, randomStudent: 0.3 })
    expect(warnings).toEqual([
      "teacher: linear top-1 40.5% is not more than 1 point above the random-init teacher's 40.0%, so its features are no better " +
      "than random ones and distillation from it cannot help; try longer pre-training (teacher.pretrain.epochs), a lower lr " +
      "(teacher.pretrain.lr) or a bigger teacher (teacher.backbone, teacher.widthMultiplier)"
    ])
    // exactly at the margin still warns; below the random teacher too
    expect(teacherWarnings({ teacher: 0.41, randomTeacher: 0.4 })).toHaveLength(1)
    expect(teacherWarnings({ teacher: 0.3, randomTeacher: 0.4 })).toHaveLength(1)
  })

  it("names the random student when the teacher is not above it, and both when neither", () => {
    const [student] = teacherWarnings({ teacher: 0.5, randomTeacher: 0.3, randomStudent: 0.495 })
    expect(student).toMatch(/^teacher: linear top-1 50\.0% is not more than 1 point above the random-init student's 49\.5%, so /)
    const [both] = teacherWarnings({ teacher: 0.4, randomTeacher: 0.45, randomStudent: 0.42 })
    expect(both).toMatch(/above the random-init teacher's 45\.0% or the random-init student's 42\.0%, so /)
    // without a random student (eval.randomBaseline: false) only the random teacher counts
    expect(teacherWarnings({ teacher: 0.5, randomTeacher: 0.3 })).toEqual([])
  })
})
