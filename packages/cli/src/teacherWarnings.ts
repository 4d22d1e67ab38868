/**
 * How far (in accuracy, 0.01 = 1 percentage point) a teacher's linear top-1 must be above a
 * randomly initialised network's for its features to count as learnt: within 1 point the
 * difference is the probe's own noise on test sets of a few thousand images.
 */
export const teacherMargin = 0.01

export interface TeacherComparison {
  /** Linear top-1 of the teacher, in [0, 1]. */
  readonly teacher: number
  /** Linear top-1 of a randomly initialised encoder of the teacher's architecture. */
  readonly randomTeacher: number
  /** Linear top-1 of the randomly initialised student, when it was evaluated. */
  readonly randomStudent?: number
}

const pct = (x: number): string => `${(100 * x).toFixed(1)}%`

/**
 * The warning (one line, or none) for a teacher whose linear probe is not better, by more than
 * `teacherMargin`, than a random teacher's or a random student's: its features carry no more
 * than random features do, so distilling from it cannot help.
 */
export const teacherWarnings = (c: TeacherComparison): ReadonlyArray<string> => {
  const beaten = [
    ...(c.teacher <= c.randomTeacher + teacherMargin ? [`the random-init teacher's ${pct(c.randomTeacher)}`] : []),
    ...(c.randomStudent !== undefined && c.teacher <= c.randomStudent + teacherMargin
      ? [`the random-init student's ${pct(c.randomStudent)}`]
      : [])
  ]
  if (beaten.length === 0) return []
  return [
    `teacher: linear top-1 ${pct(c.teacher)} is not more than ${100 * teacherMargin} point above ${beaten.join(" or ")}, ` +
    "so its features are no better than random ones and distillation from it cannot help; " +
    "try longer pre-training (teacher.pretrain.epochs), a lower lr (teacher.pretrain.lr) or a bigger teacher (teacher.backbone, teacher.widthMultiplier)"
  ]
}
