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

// A new Float32Array of n elements owned by V8; *data points at its (zeroed) memory. Counted
// by allocStats().
Napi::Float32Array newF32(Napi::Env env, size_t n, float** data);

// A kernel's output of n floats: `given` when it is a Float32Array of exactly n elements (a
// pooled buffer from the TS layer, src/OutputPool.ts: it holds old values, so every kernel
// writes each element of its outputs), else a new one (newF32). Kernels return what this returns.
Napi::Float32Array outF32(Napi::Env env, const Napi::Value& given, size_t n, float** data);
// The same for int32 outputs (TopK's indices).
Napi::Int32Array outI32(Napi::Env env, const Napi::Value& given, size_t n, int32_t** data);

// info[i], or undefined past the last argument (the optional output arguments).
inline Napi::Value arg(const Napi::CallbackInfo& info, size_t i) {
  return i < info.Length() ? info[i] : info.Env().Undefined();
}
// list[i] when list is an array, else undefined (kernels with several outputs take an array of them).
inline Napi::Value item(const Napi::Value& list, uint32_t i) {
  if (!list.IsArray()) return list.Env().Undefined();
  auto a = list.As<Napi::Array>();
  return i < a.Length() ? a.Get(i) : list.Env().Undefined();
}

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
