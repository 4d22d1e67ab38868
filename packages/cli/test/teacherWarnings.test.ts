import { describe, expect, it } from "@effect/vitest"
import { teacherMargin, teacherWarnings } from "../src/teacherWarnings.ts"

const both = (x: number) => ({ knn: x, linear: x })

describe("teacherWarnings", () => {
  it("no warning for a teacher more than 1 point above both random networks, in kNN or in linear top-1", () => {
    expect(teacherMargin).toBe(0.01)
    expect(teacherWarnings({ teacher: both(0.62), randomTeacher: both(0.4), randomStudent: both(0.357) })).toEqual([])
    expect(teacherWarnings({ teacher: both(0.411), randomTeacher: both(0.4) })).toEqual([])
    // digits: the linear probe at its ceiling for random features too, kNN still tells the teacher apart
    expect(teacherWarnings({ teacher: { knn: 0.95, linear: 0.978 }, randomTeacher: { knn: 0.836, linear: 0.969 } })).toEqual([])
  })

  it("one line naming the random teacher when the teacher is not above it by more than 1 point in either", () => {
    const warnings = teacherWarnings({
      teacher: { knn: 0.3, linear: 0.405 },
      randomTeacher: { knn: 0.35, linear: 0.4 },
      randomStudent: both(0.2)
    })
    expect(warnings).toEqual([
      "teacher: kNN / linear top-1 30.0% / 40.5% is not more than 1 point above the random-init teacher's 35.0% / 40.0% in either, " +
        "so its features are no better than random ones and distillation from it cannot help; try longer pre-training " +
        "(teacher.pretrain.epochs), a lower lr (teacher.pretrain.lr) or a bigger teacher (teacher.backbone, teacher.widthMultiplier)"
    ])
    // exactly at the margin still warns; below the random teacher too
    expect(teacherWarnings({ teacher: both(0.41), randomTeacher: both(0.4) })).toHaveLength(1)
    expect(teacherWarnings({ teacher: both(0.3), randomTeacher: both(0.4) })).toHaveLength(1)
  })

  it("names the random student when the teacher is not above it, and both when neither", () => {
    const [student] = teacherWarnings({ teacher: both(0.5), randomTeacher: both(0.3), randomStudent: both(0.495) })
    expect(student).toMatch(
      /^teacher: kNN \/ linear top-1 50\.0% \/ 50\.0% is not more than 1 point above the random-init student's 49\.5% \/ 49\.5% in either, so /
    )
    const [two] = teacherWarnings({ teacher: both(0.4), randomTeacher: both(0.45), randomStudent: both(0.42) })
    expect(two).toMatch(/above the random-init teacher's 45\.0% \/ 45\.0% or the random-init student's 42\.0% \/ 42\.0% in either, so /)
    // without a random student (eval.randomBaseline: false) only the random teacher counts
    expect(teacherWarnings({ teacher: both(0.5), randomTeacher: both(0.3) })).toEqual([])
  })
})
