// 2-D convolution (forward, backward data, backward weights) on NHWC tensors with HWIO
// filters, via oneDNN primitives cached by geometry. Activations stay NHWC (no reorders);
// only filters are reordered to the layout oneDNN prefers.
#include "common.h"

#include <omp.h>

#include <dnnl.hpp>
#include <memory>
#include <string>
#include <unordered_map>

namespace bingo {
namespace {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

dnnl::engine& eng() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}
dnnl::stream& strm() {
  static dnnl::stream s(eng());
  return s;
}

struct Geometry {
  int64_t n, h, w, c, kh, kw, o, oh, ow, sh, sw, dh, dw, pt, pl, pb, pr;
};

struct ConvPlan {
  memory::desc src, dst, weiUser;
  dnnl::convolution_forward::primitive_desc fwd;
  dnnl::convolution_forward fwdPrim;
  memory::desc weiFwd;
  std::unique_ptr<dnnl::reorder> weiToFwd;  // user HWIO -> forward layout (null when equal)
  std::vector<float> weiFwdBuf;
  // backward data
  bool hasBwdData = false;
  dnnl::convolution_backward_data bwdDataPrim;
  memory::desc weiBwd;
  std::unique_ptr<dnnl::reorder> weiToBwd;
  std::vector<float> weiBwdBuf;
  // backward weights
  bool hasBwdWei = false;
  dnnl::convolution_backward_weights bwdWeiPrim;
  memory::desc dweiBwd;
  std::unique_ptr<dnnl::reorder> dweiToUser;
  std::vector<float> dweiBuf;
};

std::unordered_map<std::string, std::unique_ptr<ConvPlan>> plans;

memory::dims strides(const Geometry& g) { return {g.sh, g.sw}; }
memory::dims dilates(const Geometry& g) { return {g.dh - 1, g.dw - 1}; }
memory::dims padL(const Geometry& g) { return {g.pt, g.pl}; }
memory::dims padR(const Geometry& g) { return {g.pb, g.pr}; }

dnnl::convolution_forward::desc fwdDesc(const Geometry& g, const ConvPlan& p, const memory::desc& wei) {
  return dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct,
                                         p.src, wei, p.dst, strides(g), dilates(g), padL(g), padR(g));
}

ConvPlan& plan(const Geometry& g) {
  std::string key;
  for (int64_t v : {g.n, g.h, g.w, g.c, g.kh, g.kw, g.o, g.oh, g.ow, g.sh, g.sw, g.dh, g.dw, g.pt, g.pl, g.pb, g.pr}) {
    key += std::to_string(v);
    key += ',';
  }
  key += std::to_string(omp_get_max_threads());  // primitives keep the thread count they were made with
  auto it = plans.find(key);
  if (it != plans.end()) return *it->second;
  auto p = std::make_unique<ConvPlan>();
  p->src = memory::desc({g.n, g.c, g.h, g.w}, dt::f32, tag::nhwc);
  p->dst = memory::desc({g.n, g.o, g.oh, g.ow}, dt::f32, tag::nhwc);
  p->weiUser = memory::desc({g.o, g.c, g.kh, g.kw}, dt::f32, tag::hwio);
  memory::desc weiAny({g.o, g.c, g.kh, g.kw}, dt::f32, tag::any);
  p->fwd = dnnl::convolution_forward::primitive_desc(fwdDesc(g, *p, weiAny), eng());
  p->fwdPrim = dnnl::convolution_forward(p->fwd);
  p->weiFwd = p->fwd.weights_desc();
  if (p->weiFwd != p->weiUser) {
    p->weiFwdBuf.resize(p->weiFwd.get_size() / sizeof(float) + 16);
    p->weiToFwd = std::make_unique<dnnl::reorder>(dnnl::reorder::primitive_desc(eng(), p->weiUser, eng(), p->weiFwd));
  }
  auto& ref = *p;
  plans.emplace(key, std::move(p));
  return ref;
}

void ensureBwdData(const Geometry& g, ConvPlan& p) {
  if (p.hasBwdData) return;
  memory::desc weiAny({g.o, g.c, g.kh, g.kw}, dt::f32, tag::any);
  dnnl::convolution_backward_data::desc d(dnnl::algorithm::convolution_direct, p.src, weiAny, p.dst, strides(g),
                                          dilates(g), padL(g), padR(g));
  dnnl::convolution_backward_data::primitive_desc pd(d, eng(), p.fwd);
  p.bwdDataPrim = dnnl::convolution_backward_data(pd);
  p.weiBwd = pd.weights_desc();
  if (p.weiBwd != p.weiUser) {
    p.weiBwdBuf.resize(p.weiBwd.get_size() / sizeof(float) + 16);
    p.weiToBwd = std::make_unique<dnnl::reorder>(dnnl::reorder::primitive_desc(eng(), p.weiUser, eng(), p.weiBwd));
  }
  p.hasBwdData = true;
}

void ensureBwdWei(const Geometry& g, ConvPlan& p) {
  if (p.hasBwdWei) return;
  memory::desc weiAny({g.o, g.c, g.kh, g.kw}, dt::f32, tag::any);
  dnnl::convolution_backward_weights::desc d(dnnl::algorithm::convolution_direct, p.src, weiAny, p.dst, strides(g),
                                             dilates(g), padL(g), padR(g));
  dnnl::convolution_backward_weights::primitive_desc pd(d, eng(), p.fwd);
  p.bwdWeiPrim = dnnl::convolution_backward_weights(pd);
  p.dweiBwd = pd.diff_weights_desc();
  if (p.dweiBwd != p.weiUser) {
    p.dweiBuf.resize(p.dweiBwd.get_size() / sizeof(float) + 16);
    p.dweiToUser = std::make_unique<dnnl::reorder>(dnnl::reorder::primitive_desc(eng(), p.dweiBwd, eng(), p.weiUser));
  }
  p.hasBwdWei = true;
}

// conv(kind, a, b, geometry[17], out?):
//   kind 0: forward          a = x [N,H,W,C],    b = w [KH,KW,C,O]  -> y  [N,OH,OW,O]
//   kind 1: backward data    a = dy [N,OH,OW,O], b = w              -> dx [N,H,W,C]
//   kind 2: backward weights a = x,              b = dy             -> dw [KH,KW,C,O]
// geometry = [N,H,W,C, KH,KW,O, OH,OW, strideH,strideW, dilationH,dilationW, padTop,padLeft,padBottom,padRight]
Napi::Value Conv(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  int kind = static_cast<int>(i64(info[0]));
  F32View a = f32(info[1]), b = f32(info[2]);
  auto gv = i64s(info[3]);
  if (gv.size() != 17) {
    Napi::TypeError::New(env, "conv: geometry must have 17 entries").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Geometry g{gv[0], gv[1], gv[2], gv[3], gv[4], gv[5], gv[6], gv[7], gv[8], gv[9], gv[10], gv[11], gv[12], gv[13], gv[14], gv[15], gv[16]};
  // Small convolutions run (and their primitives are created) on one thread: oneDNN fixes the
  // thread count of a primitive when it is created. Plans are cached per geometry, so a
  // geometry always gets the same count.
  ThreadScope threads(2.0 * g.n * g.oh * g.ow * g.o * g.kh * g.kw * g.c);
  try {
    ConvPlan& p = plan(g);
    auto& e = eng();
    auto& s = strm();
    float* out;
    if (kind == 0) {
      auto result = outF32(env, arg(info, 4), static_cast<size_t>(g.n * g.oh * g.ow * g.o), &out);
      memory src(p.src, e, a.data), dst(p.dst, e, out), weiUser(p.weiUser, e, b.data);
      memory wei = weiUser;
      if (p.weiToFwd) {
        wei = memory(p.weiFwd, e, p.weiFwdBuf.data());
        p.weiToFwd->execute(s, weiUser, wei);
      }
      p.fwdPrim.execute(s, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DST, dst}});
      s.wait();
      return result;
    }
    if (kind == 1) {
      ensureBwdData(g, p);
      auto result = outF32(env, arg(info, 4), static_cast<size_t>(g.n * g.h * g.w * g.c), &out);
      memory dsrc(p.src, e, out), ddst(p.dst, e, a.data), weiUser(p.weiUser, e, b.data);
      memory wei = weiUser;
      if (p.weiToBwd) {
        wei = memory(p.weiBwd, e, p.weiBwdBuf.data());
        p.weiToBwd->execute(s, weiUser, wei);
      }
      p.bwdDataPrim.execute(s, {{DNNL_ARG_DIFF_DST, ddst}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DIFF_SRC, dsrc}});
      s.wait();
      return result;
    }
    ensureBwdWei(g, p);
    auto result = outF32(env, arg(info, 4), static_cast<size_t>(g.kh * g.kw * g.c * g.o), &out);
    memory src(p.src, e, a.data), ddst(p.dst, e, b.data), dweiUser(p.weiUser, e, out);
    memory dwei = dweiUser;
    if (p.dweiToUser) dwei = memory(p.dweiBwd, e, p.dweiBuf.data());
    p.bwdWeiPrim.execute(s, {{DNNL_ARG_SRC, src}, {DNNL_ARG_DIFF_DST, ddst}, {DNNL_ARG_DIFF_WEIGHTS, dwei}});
    if (p.dweiToUser) p.dweiToUser->execute(s, dwei, dweiUser);
    s.wait();
    return result;
  } catch (const dnnl::error& err) {
    Napi::Error::New(env, std::string("oneDNN convolution failed: ") + err.what()).ThrowAsJavaScriptException();
    return env.Undefined();
  }
}

}  // namespace

void registerConv(Napi::Env env, Napi::Object exports) { exports.Set("conv", Napi::Function::New(env, Conv)); }

}  // namespace bingo
