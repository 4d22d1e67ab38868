// Shared helpers for the bingo native kernels (N-API, oneDNN).
#pragma once
#include <napi.h>
#include <cstdint>
#include <cstdlib>
#include <vector>

namespace bingo {

// A Float32Array's data pointer and length (no copy).
struct F32View {
  float* data;
  size_t length;
};

inline F32View f32(const Napi::Value& v) {
  auto a = v.As<Napi::Float32Array>();
  return {a.Data(), a.ElementLength()};
}

inline int64_t i64(const Napi::Value& v) { return v.As<Napi::Number>().Int64Value(); }

inline std::vector<int64_t> i64s(const Napi::Value& v) {
  auto a = v.As<Napi::Array>();
  std::vector<int64_t> out(a.Length());
  for (uint32_t i = 0; i < a.Length(); i++) out[i] = a.Get(i).As<Napi::Number>().Int64Value();
  return out;
}

// A new Float32Array of n elements owned by V8; *data points at its (zeroed) memory.
Napi::Float32Array newF32(Napi::Env env, size_t n, float** data);

// Element counts above which an element-wise loop is split over threads: ~1,000 small
// calls per training step gain nothing from a second thread (../shared/docs/NATIVE.md, the prototype notes).
// With passive OpenMP waiting a parallel region costs tens of microseconds to wake the other
// thread, so element-wise loops split only above 256k elements (1 MB). Their schedules are
// dynamic: a thread slowed by another process (or V8's GC threads) does not hold the region back.
constexpr int64_t kParallelMin = 1 << 18;

// Convolutions / matmuls below this many FLOPs run on one thread (the quickstart's small
// convolutions were 2x slower on two threads than on one).
constexpr double kParallelMinFlops = 3e7;

// The thread count set by setThreads().
int configuredThreads();

// Runs the enclosing scope with one OpenMP thread when `flops` is small, else the configured count.
struct ThreadScope {
  explicit ThreadScope(double flops);
  ~ThreadScope();
  bool single;
};

void registerConv(Napi::Env env, Napi::Object exports);
void registerElementwise(Napi::Env env, Napi::Object exports);

}  // namespace bingo
