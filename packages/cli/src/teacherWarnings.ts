/**
 * How far (in accuracy, 0.01 = 1 percentage point) a teacher must be above a randomly
 * initialised network, in kNN or linear top-1, for its features to count as learnt: within 1
 * point the difference is the classifiers' own noise on test sets of a few thousand images.
 */
export const teacherMargin = 0.01

/** kNN and linear-probe top-1 of one model, in [0, 1]. */
export interface Top1 {
  readonly knn: number
  readonly linear: number
}

export interface TeacherComparison {
  readonly teacher: Top1
  /** A randomly initialised encoder of the teacher's architecture (none for a model-file teacher: ONNX). */
  readonly randomTeacher?: Top1
  /** The randomly initialised student, when it was evaluated. */
  readonly randomStudent?: Top1
}

const pct = (x: number): string => `${(100 * x).toFixed(1)}%`

/**
 * The warning (one line, or none) for a teacher that is better than a random teacher or a random
 * student by no more than `teacherMargin` in both kNN and linear top-1: its features carry no
 * more than random features do, so distilling from it cannot help. Both classifiers count: on a
 * small, easy test set a linear probe on random features can reach the ceiling (scikit-learn's
 * digits: random convnet 96.9% linear) while kNN still separates a learnt teacher (95.0% vs 83.6%).
 */
export const teacherWarnings = (c: TeacherComparison): ReadonlyArray<string> => {
  const notAbove = (r: Top1) => c.teacher.knn <= r.knn + teacherMargin && c.teacher.linear <= r.linear + teacherMargin
  const text = (who: string, r: Top1) => `the random-init ${who}'s ${pct(r.knn)} / ${pct(r.linear)}`
  const beaten = [
    ...(c.randomTeacher !== undefined && notAbove(c.randomTeacher) ? [text("teacher", c.randomTeacher)] : []),
    ...(c.randomStudent !== undefined && notAbove(c.randomStudent) ? [text("student", c.randomStudent)] : [])
  ]
  if (beaten.length === 0) return []
  return [
    `teacher: kNN / linear top-1 ${pct(c.teacher.knn)} / ${pct(c.teacher.linear)} is not more than ${100 * teacherMargin} point above ` +
      `${beaten.join(" or ")} in either, so its features are no better than random ones and distillation from it cannot help; ` +
      "try longer pre-training (teacher.pretrain.epochs), a lower lr (teacher.pretrain.lr) or a bigger teacher (teacher.backbone, teacher.widthMultiplier)"
  ]
}
