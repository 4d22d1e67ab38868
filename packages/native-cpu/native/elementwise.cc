// Element-wise, reduction, tile and batch-norm kernels on float32 (OpenMP over large ops only).
#include "common.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace bingo {
namespace {

// Column sums that come out the same bits on any thread count and under any machine load. The rows
// are cut into blocks fixed by the shape alone; each block is summed in row order into its own
// double accumulators (a thread takes whole blocks, or a block's slice of up to 4,096 columns),
// and the blocks are then added in block order. (Per-thread accumulators under a dynamic schedule
// would sum whichever rows each thread happened to take: where a sum cancels, as batch-norm
// gradients do, the float result's rounding would depend on how busy the machine is, and two runs
// of one config would drift apart within a few dozen steps.)
// out: lanes x width doubles, overwritten; addRows(r0, r1, c0, c1, acc) adds rows [r0, r1) of
// columns [c0, c1) into acc (lane l of column i at acc[l * width + i]).
template <typename AddRows>
void orderedColumnSums(int64_t rows, int64_t width, int64_t lanes, bool parallel, double* out, AddRows addRows) {
  const int64_t stride = lanes * width;
  std::fill(out, out + stride, 0.0);
  if (rows <= 0 || width <= 0) return;
  constexpr int64_t kMaxBlocks = 64, kMinBlockRows = 256, kColumnChunk = 4096, kMaxPartials = int64_t{1} << 22;
  const int64_t maxBlocks = std::max<int64_t>(1, std::min(kMaxBlocks, kMaxPartials / stride));
  const int64_t blockRows = std::max(kMinBlockRows, (rows + maxBlocks - 1) / maxBlocks);
  const int64_t blocks = (rows + blockRows - 1) / blockRows;
  const int64_t chunks = (width + kColumnChunk - 1) / kColumnChunk;
  std::vector<double> partial(static_cast<size_t>(blocks * stride), 0.0);
#pragma omp parallel for schedule(dynamic) if (parallel && blocks * chunks > 1)
  for (int64_t t = 0; t < blocks * chunks; t++) {
    const int64_t b = t / chunks, c0 = (t % chunks) * kColumnChunk;
    addRows(b * blockRows, std::min(rows, (b + 1) * blockRows), c0, std::min(width, c0 + kColumnChunk),
            partial.data() + b * stride);
  }
  for (int64_t b = 0; b < blocks; b++) {
    const double* p = partial.data() + b * stride;
    for (int64_t i = 0; i < stride; i++) out[i] += p[i];
  }
}

enum BinaryOp { kAdd = 0, kSub, kMul, kDiv, kSqDiff, kMax, kMin };

template <int OP>
inline float bin(float a, float b) {
  if constexpr (OP == kAdd) return a + b;
  if constexpr (OP == kSub) return a - b;
  if constexpr (OP == kMul) return a * b;
  if constexpr (OP == kDiv) return a / b;
  if constexpr (OP == kSqDiff) return (a - b) * (a - b);
  // TF.js Maximum/Minimum propagate NaN.
  if constexpr (OP == kMax) return (std::isnan(a) || std::isnan(b)) ? NAN : (a > b ? a : b);
  if constexpr (OP == kMin) return (std::isnan(a) || std::isnan(b)) ? NAN : (a < b ? a : b);
  return 0;
}

// One contiguous run: sa, sb are 0 (broadcast) or 1.
template <int OP>
inline void run(const float* __restrict a, int64_t sa, const float* __restrict b, int64_t sb, float* __restrict o,
                int64_t n) {
  if (sa == 1 && sb == 1) {
    for (int64_t i = 0; i < n; i++) o[i] = bin<OP>(a[i], b[i]);
  } else if (sa == 1) {
    const float bv = b[0];
    for (int64_t i = 0; i < n; i++) o[i] = bin<OP>(a[i], bv);
  } else if (sb == 1) {
    const float av = a[0];
    for (int64_t i = 0; i < n; i++) o[i] = bin<OP>(av, b[i]);
  } else {
    const float v = bin<OP>(a[0], b[0]);
    for (int64_t i = 0; i < n; i++) o[i] = v;
  }
}

// Broadcast binary op over shapes already padded to the output's rank and coalesced.
template <int OP>
void binaryKernel(const float* a, const float* b, float* o, const std::vector<int64_t>& shape,
                  const std::vector<int64_t>& sa, const std::vector<int64_t>& sb, int64_t total) {
  const int r = static_cast<int>(shape.size());
  if (r == 1) {
    const int64_t n = shape[0];
    const int64_t chunk = 1 << 14;
    const int64_t chunks = (n + chunk - 1) / chunk;
#pragma omp parallel for schedule(dynamic) if (n > kParallelMin)
    for (int64_t c = 0; c < chunks; c++) {
      const int64_t s = c * chunk, len = std::min(chunk, n - s);
      run<OP>(a + s * sa[0], sa[0], b + s * sb[0], sb[0], o + s, len);
    }
    return;
  }
  const int64_t inner = shape[r - 1];
  const int64_t rows = total / inner;
#pragma omp parallel for schedule(dynamic, 64) if (total > kParallelMin)
  for (int64_t row = 0; row < rows; row++) {
    int64_t rem = row, oa = 0, ob = 0;
    for (int d = r - 2; d >= 0; d--) {
      const int64_t idx = rem % shape[d];
      rem /= shape[d];
      oa += idx * sa[d];
      ob += idx * sb[d];
    }
    run<OP>(a + oa, sa[r - 1], b + ob, sb[r - 1], o + row * inner, inner);
  }
}

// binary(op, a, aShape, b, bShape, outShape, out?) -> out; a/b shapes padded with 1s to the output rank.
Napi::Value Binary(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  const int op = static_cast<int>(i64(info[0]));
  F32View a = f32(info[1]), b = f32(info[3]);
  auto as = i64s(info[2]), bs = i64s(info[4]), os = i64s(info[5]);
  const int r = static_cast<int>(os.size());
  int64_t total = 1;
  for (auto d : os) total *= d;
  float* out;
  auto result = outF32(env, arg(info, 6), static_cast<size_t>(total), &out);
  if (total == 0) return result;
  // Strides (0 where broadcast), then merge adjacent dims that broadcast alike.
  std::vector<int64_t> fa(r), fb(r);
  int64_t ka = 1, kb = 1;
  for (int d = r - 1; d >= 0; d--) {
    fa[d] = as[d] == 1 ? 0 : ka;
    fb[d] = bs[d] == 1 ? 0 : kb;
    ka *= as[d];
    kb *= bs[d];
  }
  std::vector<int64_t> shape, sa, sb;
  for (int d = 0; d < r; d++) {
    if (os[d] == 1) continue;
    if (!shape.empty() && (sa.back() == 0) == (fa[d] == 0) && (sb.back() == 0) == (fb[d] == 0)) {
      shape.back() *= os[d];
      sa.back() = fa[d];
      sb.back() = fb[d];
    } else {
      shape.push_back(os[d]);
      sa.push_back(fa[d]);
      sb.push_back(fb[d]);
    }
  }
  if (shape.empty()) {
    shape = {1};
    sa = {1};
    sb = {1};
  }
  // After merging, the innermost stride is 0 or 1; outer strides are element offsets.
  switch (op) {
    case kAdd: binaryKernel<kAdd>(a.data, b.data, out, shape, sa, sb, total); break;
    case kSub: binaryKernel<kSub>(a.data, b.data, out, shape, sa, sb, total); break;
    case kMul: binaryKernel<kMul>(a.data, b.data, out, shape, sa, sb, total); break;
    case kDiv: binaryKernel<kDiv>(a.data, b.data, out, shape, sa, sb, total); break;
    case kSqDiff: binaryKernel<kSqDiff>(a.data, b.data, out, shape, sa, sb, total); break;
    case kMax: binaryKernel<kMax>(a.data, b.data, out, shape, sa, sb, total); break;
    case kMin: binaryKernel<kMin>(a.data, b.data, out, shape, sa, sb, total); break;
    default: Napi::Error::New(env, "binary: unknown op").ThrowAsJavaScriptException(); return env.Undefined();
  }
  return result;
}

enum UnaryOp { kRelu = 0, kStep, kSquare, kNeg, kSqrt, kRsqrt, kExp, kLog, kAbs, kRelu6 };

template <int OP>
void unaryKernel(const float* __restrict x, float* __restrict o, int64_t n, float alpha) {
#pragma omp parallel for schedule(dynamic, 16384) if (n > kParallelMin)
  for (int64_t i = 0; i < n; i++) {
    const float v = x[i];
    if constexpr (OP == kRelu) o[i] = v < 0.f ? 0.f : v;
    if constexpr (OP == kStep) o[i] = std::isnan(v) ? NAN : (v > 0.f ? 1.f : alpha);
    if constexpr (OP == kSquare) o[i] = v * v;
    if constexpr (OP == kNeg) o[i] = -v;
    if constexpr (OP == kSqrt) o[i] = std::sqrt(v);
    if constexpr (OP == kRsqrt) o[i] = 1.f / std::sqrt(v);
    if constexpr (OP == kExp) o[i] = std::exp(v);
    if constexpr (OP == kLog) o[i] = std::log(v);
    if constexpr (OP == kAbs) o[i] = std::fabs(v);
    if constexpr (OP == kRelu6) o[i] = v < 0.f ? 0.f : (v > 6.f ? 6.f : v);
  }
}

// unary(op, x, alpha, out?) -> out
Napi::Value Unary(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  const int op = static_cast<int>(i64(info[0]));
  F32View x = f32(info[1]);
  const float alpha = info.Length() > 2 && info[2].IsNumber() ? info[2].As<Napi::Number>().FloatValue() : 0.f;
  const int64_t n = static_cast<int64_t>(x.length);
  float* o;
  auto result = outF32(env, arg(info, 3), x.length, &o);
  switch (op) {
    case kRelu: unaryKernel<kRelu>(x.data, o, n, alpha); break;
    case kStep: unaryKernel<kStep>(x.data, o, n, alpha); break;
    case kSquare: unaryKernel<kSquare>(x.data, o, n, alpha); break;
    case kNeg: unaryKernel<kNeg>(x.data, o, n, alpha); break;
    case kSqrt: unaryKernel<kSqrt>(x.data, o, n, alpha); break;
    case kRsqrt: unaryKernel<kRsqrt>(x.data, o, n, alpha); break;
    case kExp: unaryKernel<kExp>(x.data, o, n, alpha); break;
    case kLog: unaryKernel<kLog>(x.data, o, n, alpha); break;
    case kAbs: unaryKernel<kAbs>(x.data, o, n, alpha); break;
    case kRelu6: unaryKernel<kRelu6>(x.data, o, n, alpha); break;
    default: Napi::Error::New(env, "unary: unknown op").ThrowAsJavaScriptException(); return env.Undefined();
  }
  return result;
}

// reluGrad(dy, x, out?) -> dy where x > 0, else 0 (NaN where x is NaN, as dy * step(x)).
Napi::Value ReluGrad(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  F32View dy = f32(info[0]), x = f32(info[1]);
  const int64_t n = static_cast<int64_t>(x.length);
  float* o;
  auto result = outF32(env, arg(info, 2), x.length, &o);
  const float* __restrict d = dy.data;
  const float* __restrict v = x.data;
#pragma omp parallel for schedule(dynamic, 16384) if (n > kParallelMin)
  for (int64_t i = 0; i < n; i++) o[i] = std::isnan(v[i]) ? NAN : (v[i] > 0.f ? d[i] : 0.f);
  return result;
}

// reduce(op, x, outer, size, inner, out?) -> out [outer, inner]: op 0 = sum, 1 = mean, 2 = max, 3 = min.
// x is viewed as [outer, size, inner]; sums accumulate in double (as the JS kernels do).
Napi::Value Reduce(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  const int op = static_cast<int>(i64(info[0]));
  F32View x = f32(info[1]);
  const int64_t outer = i64(info[2]), size = i64(info[3]), inner = i64(info[4]);
  float* o;
  auto result = outF32(env, arg(info, 5), static_cast<size_t>(outer * inner), &o);
  const bool big = outer * size * inner > kParallelMin;
  if (op == 0 || op == 1) {
    const double scale = op == 1 ? 1.0 / static_cast<double>(size) : 1.0;
    if (inner == 1) {
#pragma omp parallel for schedule(dynamic, 64) if (big && outer > 1)
      for (int64_t r = 0; r < outer; r++) {
        const float* p = x.data + r * size;
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        int64_t i = 0;
        for (; i + 4 <= size; i += 4) {
          s0 += p[i];
          s1 += p[i + 1];
          s2 += p[i + 2];
          s3 += p[i + 3];
        }
        for (; i < size; i++) s0 += p[i];
        o[r] = static_cast<float>((s0 + s1 + s2 + s3) * scale);
      }
    } else {
      // The reduced axis in blocks, each summed in order, the blocks added in order (orderedColumnSums).
      std::vector<double> acc(inner);
      for (int64_t r = 0; r < outer; r++) {
        const float* base = x.data + r * size * inner;
        orderedColumnSums(size, inner, 1, big, acc.data(), [&](int64_t s0, int64_t s1, int64_t c0, int64_t c1, double* a) {
          for (int64_t s = s0; s < s1; s++) {
            const float* p = base + s * inner;
            for (int64_t i = c0; i < c1; i++) a[i] += p[i];
          }
        });
        for (int64_t i = 0; i < inner; i++) o[r * inner + i] = static_cast<float>(acc[i] * scale);
      }
    }
    return result;
  }
  const bool isMax = op == 2;
  for (int64_t r = 0; r < outer; r++) {
    for (int64_t i = 0; i < inner; i++) o[r * inner + i] = x.data[r * size * inner + i];
    for (int64_t s = 1; s < size; s++) {
      const float* p = x.data + (r * size + s) * inner;
      for (int64_t i = 0; i < inner; i++) {
        const float v = p[i];
        float& t = o[r * inner + i];
        if (std::isnan(v) || (isMax ? v > t : v < t)) t = v;
      }
    }
  }
  return result;
}

// tile(x, shape, reps, out?) -> out
Napi::Value Tile(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  F32View x = f32(info[0]);
  auto shape = i64s(info[1]), reps = i64s(info[2]);
  const int r = static_cast<int>(shape.size());
  std::vector<int64_t> os(r);
  int64_t total = 1;
  for (int d = 0; d < r; d++) total *= (os[d] = shape[d] * reps[d]);
  float* o;
  auto result = outF32(env, arg(info, 3), static_cast<size_t>(total), &o);
  if (total == 0) return result;
  if (r == 0) {
    o[0] = x.data[0];
    return result;
  }
  const int64_t last = shape[r - 1];
  const int64_t rows = total / os[r - 1];
  std::vector<int64_t> xs(r);
  int64_t k = 1;
  for (int d = r - 1; d >= 0; d--) {
    xs[d] = k;
    k *= shape[d];
  }
#pragma omp parallel for schedule(dynamic, 64) if (total > kParallelMin)
  for (int64_t row = 0; row < rows; row++) {
    int64_t rem = row, off = 0;
    for (int d = r - 2; d >= 0; d--) {
      off += ((rem % os[d]) % shape[d]) * xs[d];
      rem /= os[d];
    }
    float* dst = o + row * os[r - 1];
    for (int64_t t = 0; t < reps[r - 1]; t++) std::memcpy(dst + t * last, x.data + off, last * sizeof(float));
  }
  return result;
}

// Per-channel statistics of x [rows, C]: mean and biased variance (two passes, double sums).
void channelMoments(const float* x, int64_t rows, int64_t c, std::vector<double>& mean, std::vector<double>& var) {
  mean.assign(c, 0.0);
  var.assign(c, 0.0);
  const bool big = rows * c > kParallelMin;
  orderedColumnSums(rows, c, 1, big, mean.data(), [&](int64_t r0, int64_t r1, int64_t c0, int64_t c1, double* s) {
    for (int64_t r = r0; r < r1; r++) {
      const float* p = x + r * c;
      for (int64_t i = c0; i < c1; i++) s[i] += p[i];
    }
  });
  for (int64_t i = 0; i < c; i++) mean[i] /= static_cast<double>(rows);
  std::vector<float> mf(c);
  for (int64_t i = 0; i < c; i++) mf[i] = static_cast<float>(mean[i]);
  orderedColumnSums(rows, c, 1, big, var.data(), [&](int64_t r0, int64_t r1, int64_t c0, int64_t c1, double* s) {
    for (int64_t r = r0; r < r1; r++) {
      const float* p = x + r * c;
      for (int64_t i = c0; i < c1; i++) {
        const float d = p[i] - mf[i];
        s[i] += static_cast<double>(d) * d;
      }
    }
  });
  for (int64_t i = 0; i < c; i++) var[i] /= static_cast<double>(rows);
}

// y = x * scale[c] + shift[c] over [rows, C]
void affine(const float* __restrict x, float* __restrict y, int64_t rows, int64_t c, const float* scale,
            const float* shift) {
#pragma omp parallel for schedule(dynamic, 64) if (rows * c > kParallelMin)
  for (int64_t r = 0; r < rows; r++) {
    const float* p = x + r * c;
    float* q = y + r * c;
    for (int64_t i = 0; i < c; i++) q[i] = p[i] * scale[i] + shift[i];
  }
}

// batchNormTrain(x, gamma, beta, rows, C, eps, outs?) -> [y, mean, variance (biased), invStd]
Napi::Value BatchNormTrain(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  F32View x = f32(info[0]), gamma = f32(info[1]), beta = f32(info[2]);
  const int64_t rows = i64(info[3]), c = i64(info[4]);
  const double eps = info[5].As<Napi::Number>().DoubleValue();
  std::vector<double> mean, var;
  channelMoments(x.data, rows, c, mean, var);
  float *y, *m, *v, *is;
  auto outs = arg(info, 6);
  auto yv = outF32(env, item(outs, 0), static_cast<size_t>(rows * c), &y);
  auto mv = outF32(env, item(outs, 1), c, &m);
  auto vv = outF32(env, item(outs, 2), c, &v);
  auto iv = outF32(env, item(outs, 3), c, &is);
  std::vector<float> scale(c), shift(c);
  for (int64_t i = 0; i < c; i++) {
    m[i] = static_cast<float>(mean[i]);
    v[i] = static_cast<float>(var[i]);
    const double inv = 1.0 / std::sqrt(var[i] + eps);
    is[i] = static_cast<float>(inv);
    scale[i] = static_cast<float>(gamma.data[gamma.length == 1 ? 0 : i] * inv);
    shift[i] = static_cast<float>(beta.data[beta.length == 1 ? 0 : i] - mean[i] * gamma.data[gamma.length == 1 ? 0 : i] * inv);
  }
  affine(x.data, y, rows, c, scale.data(), shift.data());
  auto arr = Napi::Array::New(env, 4);
  arr.Set(0u, yv);
  arr.Set(1u, mv);
  arr.Set(2u, vv);
  arr.Set(3u, iv);
  return arr;
}

// batchNormGrad(dy, x, gamma, mean, invStd, rows, C, outs?) -> [dx, dgamma, dbeta], the closed form
// for batch statistics: dx = g*is/N * (N*dy - sum(dy) - xhat * sum(dy*xhat)).
Napi::Value BatchNormGrad(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  F32View dy = f32(info[0]), x = f32(info[1]), gamma = f32(info[2]), mean = f32(info[3]), invStd = f32(info[4]);
  const int64_t rows = i64(info[5]), c = i64(info[6]);
  // sums[i] = sum over rows of dy, sums[c + i] = sum of dy * xhat (orderedColumnSums: same bits under any load)
  std::vector<double> sums(2 * c);
  const bool big = rows * c > kParallelMin;
  orderedColumnSums(rows, c, 2, big, sums.data(), [&](int64_t r0, int64_t r1, int64_t c0, int64_t c1, double* s) {
    for (int64_t r = r0; r < r1; r++) {
      const float* g = dy.data + r * c;
      const float* p = x.data + r * c;
      for (int64_t i = c0; i < c1; i++) {
        s[i] += g[i];
        s[c + i] += static_cast<double>(g[i]) * ((p[i] - mean.data[i]) * invStd.data[i]);
      }
    }
  });
  const double* sdy = sums.data();
  const double* sdyx = sums.data() + c;
  float *dx, *dg, *db;
  auto outs = arg(info, 7);
  auto dxv = outF32(env, item(outs, 0), static_cast<size_t>(rows * c), &dx);
  auto dgv = outF32(env, item(outs, 1), c, &dg);
  auto dbv = outF32(env, item(outs, 2), c, &db);
  std::vector<float> k1(c), k2(c), k3(c), mf(c);
  const double n = static_cast<double>(rows);
  for (int64_t i = 0; i < c; i++) {
    const double gi = gamma.data[gamma.length == 1 ? 0 : i], is = invStd.data[i];
    dg[i] = static_cast<float>(sdyx[i]);
    db[i] = static_cast<float>(sdy[i]);
    // dx = k1 * dy - k2 - k3 * (x - mean)
    k1[i] = static_cast<float>(gi * is);
    k2[i] = static_cast<float>(gi * is * sdy[i] / n);
    k3[i] = static_cast<float>(gi * is * is * sdyx[i] / n);
    mf[i] = mean.data[i];
  }
#pragma omp parallel for schedule(dynamic, 64) if (big)
  for (int64_t r = 0; r < rows; r++) {
    const float* g = dy.data + r * c;
    const float* p = x.data + r * c;
    float* q = dx + r * c;
    for (int64_t i = 0; i < c; i++) q[i] = k1[i] * g[i] - k2[i] - k3[i] * (p[i] - mf[i]);
  }
  auto arr = Napi::Array::New(env, 3);
  arr.Set(0u, dxv);
  arr.Set(1u, dgv);
  arr.Set(2u, dbv);
  return arr;
}

// batchNormInfer(x, mean, variance, offset|null, scale|null, rows, C, eps, out?) -> y (TF.js FusedBatchNorm)
Napi::Value BatchNormInfer(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  F32View x = f32(info[0]), mean = f32(info[1]), var = f32(info[2]);
  const bool hasOffset = info[3].IsTypedArray(), hasScale = info[4].IsTypedArray();
  const int64_t rows = i64(info[5]), c = i64(info[6]);
  const double eps = info[7].As<Napi::Number>().DoubleValue();
  F32View off = hasOffset ? f32(info[3]) : F32View{nullptr, 0};
  F32View sc = hasScale ? f32(info[4]) : F32View{nullptr, 0};
  auto at = [](const F32View& v, int64_t i) { return v.data[v.length == 1 ? 0 : i]; };
  std::vector<float> scale(c), shift(c);
  for (int64_t i = 0; i < c; i++) {
    const double inv = 1.0 / std::sqrt(static_cast<double>(at(var, i)) + eps);
    const double s = (hasScale ? at(sc, i) : 1.0) * inv;
    scale[i] = static_cast<float>(s);
    shift[i] = static_cast<float>((hasOffset ? at(off, i) : 0.0) - at(mean, i) * s);
  }
  float* y;
  auto yv = outF32(env, arg(info, 8), static_cast<size_t>(rows * c), &y);
  affine(x.data, y, rows, c, scale.data(), shift.data());
  return yv;
}


// topk(x, rows, cols, k, outs?) -> [values [rows, k], indices [rows, k] (Int32Array), hasNaN]: per
// row the k largest, descending, ties by lower index first (as TF.js's cpu TopK). NaN is not
// ordered here: the same pass notes whether x holds one (hasNaN), and the caller then discards
// the result and sends x to the stock kernel (one pass over x instead of a JS scan before it).
Napi::Value TopK(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  F32View x = f32(info[0]);
  const int64_t rows = i64(info[1]), cols = i64(info[2]), k = i64(info[3]);
  float* vals;
  int32_t* idx;
  auto outs = arg(info, 4);
  auto vv = outF32(env, item(outs, 0), static_cast<size_t>(rows * k), &vals);
  auto iv = outI32(env, item(outs, 1), static_cast<size_t>(rows * k), &idx);
  bool hasNaN = false;
#pragma omp parallel for schedule(dynamic, 64) if (rows * cols > kParallelMin) reduction(|| : hasNaN)
  for (int64_t r = 0; r < rows; r++) {
    const float* p = x.data + r * cols;
    float* bv = vals + r * k;
    int32_t* bi = idx + r * k;
    int64_t filled = 0;
    bool rowNaN = false;
    for (int64_t j = 0; j < cols; j++) {
      const float v = p[j];
      rowNaN |= (v != v);
      if (filled == k && !(v > bv[k - 1])) continue;  // later indices lose ties (and NaN is skipped)
      int64_t pos = filled < k ? filled++ : k - 1;
      while (pos > 0 && v > bv[pos - 1]) {
        bv[pos] = bv[pos - 1];
        bi[pos] = bi[pos - 1];
        pos--;
      }
      bv[pos] = v;
      bi[pos] = static_cast<int32_t>(j);
    }
    hasNaN = hasNaN || rowNaN;
  }
  auto arr = Napi::Array::New(env, 3);
  arr.Set(0u, vv);
  arr.Set(1u, iv);
  arr.Set(2u, Napi::Boolean::New(env, hasNaN));
  return arr;
}

}  // namespace

void registerElementwise(Napi::Env env, Napi::Object exports) {
  exports.Set("binary", Napi::Function::New(env, Binary));
  exports.Set("unary", Napi::Function::New(env, Unary));
  exports.Set("reluGrad", Napi::Function::New(env, ReluGrad));
  exports.Set("reduce", Napi::Function::New(env, Reduce));
  exports.Set("tile", Napi::Function::New(env, Tile));
  exports.Set("batchNormTrain", Napi::Function::New(env, BatchNormTrain));
  exports.Set("batchNormGrad", Napi::Function::New(env, BatchNormGrad));
  exports.Set("batchNormInfer", Napi::Function::New(env, BatchNormInfer));
  exports.Set("topk", Napi::Function::New(env, TopK));
}

}  // namespace bingo
