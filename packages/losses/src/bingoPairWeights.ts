/**
 * The weights (w_s, w_c) that BINGO's reference code gives the "same" pairs CE(s_a, t_a),
 * CE(s_p, t_p) and the "cross" pairs CE(s_a, t_p), CE(s_p, t_a) at a given 0-based epoch:
 * (1, 0) during the warm-up (epoch < warmupEpochs, 11 in the reference, whose test is
 * `epoch > 10`), then (selfWeight, crossWeight) = (0.5, 0.5) by default.
 */
export const bingoPairWeights = (
  epoch: number,
  options: { readonly warmupEpochs: number; readonly selfWeight: number; readonly crossWeight: number }
): { readonly self: number; readonly cross: number } =>
  epoch < options.warmupEpochs ? { self: 1, cross: 0 } : { self: options.selfWeight, cross: options.crossWeight }
