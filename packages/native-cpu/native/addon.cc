// Entry point of the bingo native addon: allocation, threads, matmul, registration.
#include "common.h"

#include <malloc.h>
#include <omp.h>

#include <cstring>

#include <dnnl.hpp>

namespace bingo {

namespace {
// Bytes and buffers the kernels allocated themselves (outputs not handed in by the TS pool).
double gAllocBytes = 0, gAllocCount = 0;
}  // namespace

Napi::Float32Array newF32(Napi::Env env, size_t n, float** data) {
  gAllocBytes += static_cast<double>(n * sizeof(float));
  gAllocCount += 1;
  // Allocated by V8's ArrayBuffer allocator (zero-filled calloc), so V8 frees it during GC
  // itself. External buffers with a finalizer were freed only when the event loop ran
  // finalizers: a synchronous training loop never reused memory and page-faulted on every op.
  auto ab = Napi::ArrayBuffer::New(env, n * sizeof(float));
  *data = static_cast<float*>(ab.Data());
  return Napi::Float32Array::New(env, n, ab, 0);
}

Napi::Float32Array outF32(Napi::Env env, const Napi::Value& given, size_t n, float** data) {
  if (given.IsTypedArray() && given.As<Napi::TypedArray>().TypedArrayType() == napi_float32_array) {
    auto a = given.As<Napi::Float32Array>();
    if (a.ElementLength() == n) {
      *data = a.Data();
      return a;
    }
  }
  return newF32(env, n, data);
}

Napi::Int32Array outI32(Napi::Env env, const Napi::Value& given, size_t n, int32_t** data) {
  if (given.IsTypedArray() && given.As<Napi::TypedArray>().TypedArrayType() == napi_int32_array) {
    auto a = given.As<Napi::Int32Array>();
    if (a.ElementLength() == n) {
      *data = a.Data();
      return a;
    }
  }
  gAllocBytes += static_cast<double>(n * sizeof(int32_t));
  gAllocCount += 1;
  auto a = Napi::Int32Array::New(env, n);
  *data = a.Data();
  return a;
}

namespace {
int gThreads = 1;
}  // namespace

int configuredThreads() { return gThreads; }

ThreadScope::ThreadScope(double flops) : single(flops < kParallelMinFlops && gThreads > 1) {
  if (single) omp_set_num_threads(1);
}
ThreadScope::~ThreadScope() {
  if (single) omp_set_num_threads(gThreads);
}

namespace {

// setThreads(n): threads used by oneDNN and the element-wise loops.
Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  int n = static_cast<int>(i64(info[0]));
  if (n < 1) n = 1;
  omp_set_num_threads(n);
  gThreads = n;
  return Napi::Number::New(info.Env(), omp_get_max_threads());
}

// allocStats() -> { bytes, buffers }: what the kernels allocated themselves since the addon loaded.
Napi::Value AllocStats(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto o = Napi::Object::New(env);
  o.Set("bytes", Napi::Number::New(env, gAllocBytes));
  o.Set("buffers", Napi::Number::New(env, gAllocCount));
  return o;
}

Napi::Value Info(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto o = Napi::Object::New(env);
  const dnnl_version_t* v = dnnl_version();
  o.Set("dnnl", Napi::String::New(env, std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
                                           std::to_string(v->patch)));
  o.Set("threads", Napi::Number::New(env, omp_get_max_threads()));
  o.Set("cores", Napi::Number::New(env, omp_get_num_procs()));
  return o;
}

// matmul(a, b, batchA, batchB, m, k, n, transA, transB, out?) -> c [batch, m, n] (row-major).
// A batch of 1 on either side is broadcast.
Napi::Value MatMul(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  F32View a = f32(info[0]), b = f32(info[1]);
  int64_t batchA = i64(info[2]), batchB = i64(info[3]);
  int64_t m = i64(info[4]), k = i64(info[5]), n = i64(info[6]);
  bool ta = info[7].As<Napi::Boolean>(), tb = info[8].As<Napi::Boolean>();
  int64_t batch = batchA > batchB ? batchA : batchB;
  float* c;
  auto out = outF32(env, arg(info, 9), static_cast<size_t>(batch * m * n), &c);
  if (k == 0) std::memset(c, 0, static_cast<size_t>(batch * m * n) * sizeof(float));  // sgemm may not write C
  int64_t lda = ta ? m : k, ldb = tb ? k : n;
  ThreadScope threads(2.0 * static_cast<double>(batch) * m * n * k);
  for (int64_t i = 0; i < batch; i++) {
    const float* ai = a.data + (batchA == 1 ? 0 : i * m * k);
    const float* bi = b.data + (batchB == 1 ? 0 : i * k * n);
    dnnl_status_t st = dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k, 1.0f, ai, lda, bi, ldb, 0.0f,
                                  c + i * m * n, n);
    if (st != dnnl_success) {
      Napi::Error::New(env, "dnnl_sgemm failed with status " + std::to_string(st)).ThrowAsJavaScriptException();
      return env.Undefined();
    }
  }
  return out;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  // Large tensors come and go every step: keep them on the heap instead of fresh mmaps
  // (page faults cost ~2.5 ms per 8 MB; ../shared/docs/NATIVE.md, the prototype notes).
  mallopt(M_MMAP_THRESHOLD, 32 << 20);  // glibc's maximum on 64-bit
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  gThreads = omp_get_max_threads();
  exports.Set("setThreads", Napi::Function::New(env, SetThreads));
  exports.Set("info", Napi::Function::New(env, Info));
  exports.Set("allocStats", Napi::Function::New(env, AllocStats));
  exports.Set("matmul", Napi::Function::New(env, MatMul));
  registerConv(env, exports);
  registerElementwise(env, exports);
  return exports;
}

}  // namespace
}  // namespace bingo

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return bingo::Init(env, exports); }

NODE_API_MODULE(bingo_native, InitAddon)
