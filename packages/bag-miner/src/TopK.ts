/**
 * The best candidates of a block of query rows among the rows of one index (a whole feature
 * matrix, or one shard of it): for query row r, `width` candidates at r*width .. r*width+width-1,
 * each a global row id and its cosine similarity, best first by (similarity desc, id asc).
 *
 * A slot that holds no candidate (an index with fewer rows than `width`, or an approximate
 * search that found fewer) has id `noCandidate` and similarity -Infinity. Partial results of
 * the same query rows against several index shards are combined by `mergeTopK`.
 */
export interface TopK {
  /** Query rows. */
  readonly rows: number
  /** Candidates per query row. */
  readonly width: number
  /** rows*width global row ids (noCandidate for an empty slot). */
  readonly ids: Int32Array
  /** rows*width cosine similarities (-Infinity for an empty slot). */
  readonly sims: Float32Array
}

/** The id of an empty candidate slot. */
export const noCandidate = -1

/** Build a TopK value, checking the arrays are rows x width (a programmer error otherwise). */
export const makeTopK = (rows: number, width: number, ids: Int32Array, sims: Float32Array): TopK => {
  if (!Number.isInteger(rows) || rows < 0 || !Number.isInteger(width) || width < 1) {
    throw new RangeError(`top-k lists need an integer rows >= 0 and width >= 1, got rows=${rows}, width=${width}`)
  }
  if (ids.length !== rows * width || sims.length !== rows * width) {
    throw new RangeError(
      `top-k lists of ${rows} x ${width} need ${rows * width} ids and similarities, got ${ids.length} and ${sims.length}`
    )
  }
  return { rows, width, ids, sims }
}
