// mien's native training engine: a libtorch network built from a ModelSpec (src/models/spec.ts), driven from
// TypeScript through src/train/engine.ts, which is the only caller and passes the spec through normalizeSpec(): every
// field is present, so the defaults live in spec.ts alone and are never restated here. Weights cross the boundary
// in exactly tensorLayout(spec) order, so the ONNX exporter and checkpoints never need libtorch's own naming.

#include <dlfcn.h>
#include <ATen/autocast_mode.h>
#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>
#include <napi.h>
#include <torch/torch.h>
#if MIEN_WITH_C10D
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif
#if MIEN_WITH_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#if MIEN_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif
#if MIEN_WITH_C10D
// What a Gloo or NCCL process group is in the C++ API: a ProcessGroup up to libtorch 1.13, a Backend (which a
// ProcessGroup wraps) from 2.0 on. The addon uses only what both have: all-reduce, broadcast, barrier, size.
#if TORCH_VERSION_MAJOR >= 2
#include <torch/csrc/distributed/c10d/Backend.hpp>
using GroupBackend = c10d::Backend;
#else
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
using GroupBackend = c10d::ProcessGroup;
#endif
#endif

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <sstream>
#include <unordered_map>
#include <string>
#include <vector>

namespace {

namespace nn = torch::nn;
namespace F = torch::nn::functional;

// A user-facing failure; becomes a JS Error with this message.
struct EngineError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Runs fn, turning libtorch and C++ exceptions into JS errors: an exception escaping into N-API would abort Node.
template <typename Fn>
auto translateErrors(Napi::Env env, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const Napi::Error&) {
    throw;
  } catch (const c10::Error& e) {
    throw Napi::Error::New(env, e.what_without_backtrace());
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
}

// What a worker hands back: called on the JavaScript thread to build the promise's value.
using Finish = std::function<Napi::Value(Napi::Env)>;

// Runs `work` (which returns a Finish) on a libuv worker thread and settles a promise with what the Finish builds on
// the JavaScript thread; `settled` runs there first, either way. `owner`, when given, is kept alive until then: the
// native object whose state `work` uses.
template <typename Work>
Napi::Promise queueWork(Napi::Env env, const char* name, Work work, std::function<void()> settled = {}, Napi::Object owner = {}) {
  struct Worker : Napi::AsyncWorker {
    Worker(Napi::Env env, const char* name, Work work, std::function<void()> settled)
        : Napi::AsyncWorker(env, name), deferred(Napi::Promise::Deferred::New(env)), work(std::move(work)), settled(std::move(settled)) {}
    void Execute() override {
      // OpenMP's thread count is per thread: give this pool thread the one set by setThreads.
      at::init_num_threads();
      try {
        finish = work();
      } catch (const c10::Error& e) {
        SetError(e.what_without_backtrace());
      } catch (const std::exception& e) {
        SetError(e.what());
      }
    }
    void OnOK() override {
      if (settled) settled();
      deferred.Resolve(finish(Env()));
    }
    void OnError(const Napi::Error& error) override {
      if (settled) settled();
      deferred.Reject(error.Value());
    }
    Napi::Promise::Deferred deferred;
    Work work;
    std::function<void()> settled;
    Napi::ObjectReference owner;
    Finish finish;
  };
  auto* worker = new Worker(env, name, std::move(work), std::move(settled));
  if (!owner.IsEmpty()) worker->owner = Napi::Persistent(owner);
  worker->Queue();  // the worker deletes itself once settled, which cannot happen before this function returns
  return worker->deferred.Promise();
}

// ---- Reading the spec object -------------------------------------------------------------------------------------

// A required numeric field of a normalised layer.
double numberField(const Napi::Object& layer, const char* key, const std::string& path) {
  Napi::Value value = layer.Get(key);
  if (!value.IsNumber()) throw EngineError(path + ": \"" + key + "\" must be a number; is the spec normalised?");
  return value.As<Napi::Number>().DoubleValue();
}

int64_t intField(const Napi::Object& layer, const char* key, const std::string& path) {
  return static_cast<int64_t>(numberField(layer, key, path));
}

// A required boolean field of a normalised layer.
bool boolField(const Napi::Object& layer, const char* key, const std::string& path) {
  Napi::Value value = layer.Get(key);
  if (!value.IsBoolean()) throw EngineError(path + ": \"" + key + "\" must be a boolean; is the spec normalised?");
  return value.As<Napi::Boolean>().Value();
}

// ---- Layers without a stock torch::nn module -----------------------------------------------------------------------

// out = body(x) + (shortcut ? shortcut(x) : x)
struct ResidualImpl : nn::Module {
  ResidualImpl(nn::Sequential body_, nn::Sequential shortcut_) : body(register_module("body", body_)) {
    if (shortcut_) shortcut = register_module("shortcut", shortcut_);
  }
  torch::Tensor forward(const torch::Tensor& x) { return body->forward(x) + (shortcut ? shortcut->forward(x) : x); }
  nn::Sequential body;
  nn::Sequential shortcut{nullptr};
};
TORCH_MODULE(Residual);

// Squeeze-excitation: x * sigmoid(fc2(relu(fc1(gap(x))))).
struct SqueezeExcitationImpl : nn::Module {
  SqueezeExcitationImpl(int64_t channels, int64_t hidden)
      : fc1(register_module("fc1", nn::Linear(channels, hidden))),
        fc2(register_module("fc2", nn::Linear(hidden, channels))) {}
  torch::Tensor forward(const torch::Tensor& x) {
    torch::Tensor scale = torch::sigmoid(fc2(torch::relu(fc1(x.mean({2, 3})))));
    return x * scale.view({x.size(0), x.size(1), 1, 1});
  }
  nn::Linear fc1, fc2;
};
TORCH_MODULE(SqueezeExcitation);

// ---- Building the network ------------------------------------------------------------------------------------------

struct LayoutTensor {
  std::string name;  // as in tensorLayout(): layers.4.body.1.running_mean
  torch::Tensor tensor;
};

// Builds torch modules layer by layer. A 1-sample probe runs through each new module to learn the next layer's input
// shape from torch itself, so the shape rules live only in spec.ts (for validation) and in torch (for execution).
class NetworkBuilder {
 public:
  std::vector<LayoutTensor> layout;

  nn::Sequential sequence(const Napi::Array& layers, torch::Tensor& probe, const std::string& path) {
    nn::Sequential seq;
    for (uint32_t i = 0; i < layers.Length(); ++i) {
      nn::AnyModule module = layer(layers.Get(i).As<Napi::Object>(), probe, path + "." + std::to_string(i));
      // Eval mode so the probe neither moves batch-norm statistics nor needs more than one sample.
      module.ptr()->eval();
      probe = module.forward(probe);
      seq->push_back(std::move(module));
    }
    return seq;
  }

 private:
  void record(const std::string& path, const char* name, const torch::Tensor& tensor) {
    if (tensor.defined()) layout.push_back({path + "." + name, tensor});
  }

  nn::AnyModule layer(const Napi::Object& spec, const torch::Tensor& probe, const std::string& path) {
    const std::string type = spec.Get("type").As<Napi::String>().Utf8Value();
    if (type == "conv") {
      nn::Conv2d conv(nn::Conv2dOptions(probe.size(1), intField(spec, "out", path), intField(spec, "kernel", path))
                          .stride(intField(spec, "stride", path))
                          .padding(intField(spec, "padding", path))
                          .bias(boolField(spec, "bias", path)));
      record(path, "weight", conv->weight);
      record(path, "bias", conv->bias);
      return nn::AnyModule(conv);
    }
    if (type == "batchnorm") {
      const double eps = numberField(spec, "eps", path);
      const double momentum = numberField(spec, "momentum", path);
      if (probe.dim() == 4) {
        return batchNorm(nn::BatchNorm2d(nn::BatchNorm2dOptions(probe.size(1)).eps(eps).momentum(momentum)), path);
      }
      return batchNorm(nn::BatchNorm1d(nn::BatchNorm1dOptions(probe.size(1)).eps(eps).momentum(momentum)), path);
    }
    if (type == "relu") return nn::AnyModule(nn::ReLU());
    if (type == "maxpool") {
      return nn::AnyModule(
          nn::MaxPool2d(nn::MaxPool2dOptions(intField(spec, "kernel", path)).stride(intField(spec, "stride", path))));
    }
    if (type == "dropout") return nn::AnyModule(nn::Dropout(numberField(spec, "p", path)));
    if (type == "flatten") return nn::AnyModule(nn::Flatten());
    if (type == "globalavgpool") {
      return nn::AnyModule(nn::Functional([](const torch::Tensor& x) { return x.mean({2, 3}); }));
    }
    if (type == "dense") {
      nn::Linear dense(nn::LinearOptions(probe.size(1), intField(spec, "out", path)).bias(boolField(spec, "bias", path)));
      record(path, "weight", dense->weight);
      record(path, "bias", dense->bias);
      return nn::AnyModule(dense);
    }
    if (type == "residual") {
      torch::Tensor branchProbe = probe;
      nn::Sequential body = sequence(spec.Get("body").As<Napi::Array>(), branchProbe, path + ".body");
      nn::Sequential shortcut{nullptr};
      if (spec.Get("shortcut").IsArray()) {
        branchProbe = probe;
        shortcut = sequence(spec.Get("shortcut").As<Napi::Array>(), branchProbe, path + ".shortcut");
      }
      return nn::AnyModule(Residual(body, shortcut));
    }
    if (type == "se") {
      const int64_t channels = probe.size(1);
      SqueezeExcitation se(channels, intField(spec, "hidden", path));
      record(path, "fc1.weight", se->fc1->weight);
      record(path, "fc1.bias", se->fc1->bias);
      record(path, "fc2.weight", se->fc2->weight);
      record(path, "fc2.bias", se->fc2->bias);
      return nn::AnyModule(se);
    }
    throw EngineError(path + ": unknown layer type \"" + type + "\"");
  }

  template <typename BatchNorm>
  nn::AnyModule batchNorm(BatchNorm bn, const std::string& path) {
    record(path, "weight", bn->weight);
    record(path, "bias", bn->bias);
    record(path, "running_mean", bn->running_mean);
    record(path, "running_var", bn->running_var);
    return nn::AnyModule(bn);
  }
};

// ---- Argument helpers ----------------------------------------------------------------------------------------------

template <typename Array, napi_typedarray_type Type>
Array typedArrayArg(const Napi::CallbackInfo& info, size_t index, const char* what) {
  Napi::Value value = info[index];
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != Type) {
    throw Napi::TypeError::New(info.Env(), std::string(what) + " has the wrong type");
  }
  return value.As<Array>();
}

Napi::Float32Array float32Arg(const Napi::CallbackInfo& info, size_t index, const char* what) {
  return typedArrayArg<Napi::Float32Array, napi_float32_array>(info, index, what);
}

// The tensor's values copied into a new Float32Array.
Napi::Float32Array toFloat32Array(Napi::Env env, const torch::Tensor& tensor) {
  torch::Tensor host = tensor.detach().to(torch::kCPU, torch::kFloat).contiguous();
  Napi::Float32Array out = Napi::Float32Array::New(env, host.numel());
  std::memcpy(out.Data(), host.data_ptr<float>(), host.numel() * sizeof(float));
  return out;
}


// ---- The process group (c10d) ---------------------------------------------------------------------------------------

#if MIEN_WITH_C10D
// One rank's membership of a training group: libtorch's TCP rendezvous store (hosted by rank 0) and a c10d process
// group over it, Gloo for CPU tensors or NCCL for CUDA ones. The collectives the trainer needs besides the gradient
// all-reduce (GradientAllReduce, below) are here: summing metrics and handing rank 0's run to every rank.
class ProcessGroup : public Napi::ObjectWrap<ProcessGroup> {
 public:
  static Napi::FunctionReference* constructor;

  static Napi::Function Define(Napi::Env env) {
    Napi::Function fn = DefineClass(env, "ProcessGroup",
                                    {
                                        InstanceMethod<&ProcessGroup::AllReduceSum>("allReduceSum"),
                                        InstanceMethod<&ProcessGroup::Broadcast>("broadcast"),
                                        InstanceMethod<&ProcessGroup::Barrier>("barrier"),
                                        InstanceMethod<&ProcessGroup::Destroy>("destroy"),
                                    });
    constructor = new Napi::FunctionReference(Napi::Persistent(fn));
    return fn;
  }

  // Built by connectGroup only, once the rendezvous is done.
  explicit ProcessGroup(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ProcessGroup>(info) {}

  // connectGroup({ rank, worldSize, host, port, timeoutMs, backend, device }) → Promise<ProcessGroup>. Blocks a
  // worker thread until all ranks have joined or timeoutMs passed.
  static Napi::Value Connect(const Napi::CallbackInfo& info) {
    return translateErrors(info.Env(), [&] { return connect(info); });
  }

  c10::intrusive_ptr<GroupBackend> group() const {
    if (!group_) throw EngineError("this process group was destroyed");
    return group_;
  }

 private:
  static Napi::Value connect(const Napi::CallbackInfo& info) {
    const Napi::Object o = info[0].As<Napi::Object>();
    Options options{static_cast<int>(o.Get("rank").As<Napi::Number>().Int32Value()),
                    static_cast<int>(o.Get("worldSize").As<Napi::Number>().Int32Value()),
                    o.Get("host").As<Napi::String>().Utf8Value(),
                    static_cast<uint16_t>(o.Get("port").As<Napi::Number>().Uint32Value()),
                    std::chrono::milliseconds(o.Get("timeoutMs").As<Napi::Number>().Int64Value()),
                    o.Get("backend").As<Napi::String>().Utf8Value(),
                    torch::Device(o.Get("device").As<Napi::String>().Utf8Value())};
    return queueWork(info.Env(), "mien.group", [options] {
      c10d::TCPStoreOptions storeOptions;
      storeOptions.port = options.port;
      storeOptions.isServer = options.rank == 0;
      storeOptions.numWorkers = options.worldSize;
      storeOptions.waitWorkers = true;
      storeOptions.timeout = options.timeout;
      auto tcp = c10::make_intrusive<c10d::TCPStore>(options.host, storeOptions);
      auto store = c10::make_intrusive<c10d::PrefixStore>("mien", tcp);
      c10::intrusive_ptr<GroupBackend> group;
      if (options.backend == "nccl") {
#if MIEN_WITH_NCCL
        auto ncclOptions = c10d::ProcessGroupNCCL::Options::create();
        ncclOptions->timeout = options.timeout;
        group = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, options.rank, options.worldSize, ncclOptions);
#else
        throw EngineError("this mien build has no NCCL: rebuild against a CUDA libtorch (MIEN_LIBTORCH=…)");
#endif
      } else {
#if MIEN_WITH_GLOO
        auto glooOptions = c10d::ProcessGroupGloo::Options::create(options.timeout);
        // Loopback when the whole group is on this host (the machine's hostname may not resolve, e.g. in a container);
        // else the interface GLOO_SOCKET_IFNAME names, or the one the hostname resolves to, as torch.distributed does.
        const bool local = options.host == "127.0.0.1" || options.host == "localhost" || options.host == "::1";
        const char* interface = std::getenv("GLOO_SOCKET_IFNAME");
        glooOptions->devices.push_back(interface ? c10d::ProcessGroupGloo::createDeviceForInterface(interface)
                                       : local   ? c10d::ProcessGroupGloo::createDeviceForHostname(options.host)
                                                 : c10d::ProcessGroupGloo::createDefaultDevice());
        glooOptions->threads = 2;
        group = c10::make_intrusive<c10d::ProcessGroupGloo>(store, options.rank, options.worldSize, glooOptions);
#else
        throw EngineError("this mien build has no Gloo: install libgloo-dev, then npm run build:addon");
#endif
      }
      const torch::Device device = options.backend == "nccl" ? options.device : torch::Device(torch::kCPU);
      return [tcp, group, device](Napi::Env env) -> Napi::Value {
        Napi::Object object = constructor->New({});
        ProcessGroup* wrapped = ProcessGroup::Unwrap(object);
        wrapped->store_ = tcp;
        wrapped->group_ = group;
        wrapped->device_ = device;
        return object;
      };
    });
  }

  struct Options {
    int rank;
    int worldSize;
    std::string host;
    uint16_t port;
    std::chrono::milliseconds timeout;
    std::string backend;
    torch::Device device;
  };

  // allReduceSum(Float64Array) → Promise<Float64Array>: the element-wise sum over all ranks.
  Napi::Value AllReduceSum(const Napi::CallbackInfo& info) {
    return translateErrors(info.Env(), [&] {
      Napi::Float64Array values = typedArrayArg<Napi::Float64Array, napi_float64_array>(info, 0, "values");
      torch::Tensor tensor = torch::from_blob(values.Data(), {static_cast<int64_t>(values.ElementLength())}, torch::kDouble)
                                 .clone()
                                 .to(deviceForCollectives());
      auto group = this->group();
      return queueWork(info.Env(), "mien.group", [group, tensor]() mutable {
        std::vector<torch::Tensor> tensors{tensor};
        group->allreduce(tensors)->wait();
        torch::Tensor host = tensor.cpu().contiguous();
        return [host](Napi::Env env) -> Napi::Value {
          Napi::Float64Array out = Napi::Float64Array::New(env, host.numel());
          std::memcpy(out.Data(), host.data_ptr<double>(), host.numel() * sizeof(double));
          return out;
        };
      });
    });
  }

  // broadcast(Uint8Array | undefined) → Promise<Uint8Array>: rank 0's bytes, on every rank (the others pass nothing).
  Napi::Value Broadcast(const Napi::CallbackInfo& info) {
    return translateErrors(info.Env(), [&] {
      torch::Tensor bytes;
      if (info[0].IsTypedArray()) {
        Napi::Uint8Array data = typedArrayArg<Napi::Uint8Array, napi_uint8_array>(info, 0, "bytes");
        bytes = torch::from_blob(data.Data(), {static_cast<int64_t>(data.ByteLength())}, torch::kByte).clone();
      }
      auto group = this->group();
      const torch::Device device = deviceForCollectives();
      return queueWork(info.Env(), "mien.group", [group, bytes, device]() mutable {
        // The length first, so the other ranks can allocate the buffer the bytes arrive in.
        std::vector<torch::Tensor> length{torch::tensor({bytes.defined() ? bytes.numel() : int64_t{0}}).to(device)};
        group->broadcast(length)->wait();
        const int64_t n = length[0].cpu().item<int64_t>();
        std::vector<torch::Tensor> payload{bytes.defined() ? bytes.to(device) : torch::empty({n}, torch::kByte).to(device)};
        if (n > 0) group->broadcast(payload)->wait();
        torch::Tensor host = payload[0].cpu().contiguous();
        return [host](Napi::Env env) -> Napi::Value {
          Napi::Uint8Array out = Napi::Uint8Array::New(env, host.numel());
          if (host.numel() > 0) std::memcpy(out.Data(), host.data_ptr<uint8_t>(), host.numel());
          return out;
        };
      });
    });
  }

  Napi::Value Barrier(const Napi::CallbackInfo& info) {
    return translateErrors(info.Env(), [&] {
      auto group = this->group();
      return queueWork(info.Env(), "mien.group", [group] {
        group->barrier()->wait();
        return [](Napi::Env env) -> Napi::Value { return env.Undefined(); };
      });
    });
  }

  Napi::Value Destroy(const Napi::CallbackInfo& info) {
    group_.reset();
    store_.reset();
    return info.Env().Undefined();
  }

  // NCCL moves CUDA tensors only (on this rank's GPU); Gloo takes CPU ones.
  torch::Device deviceForCollectives() const { return device_; }

  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<GroupBackend> group_;
  torch::Device device_{torch::kCPU};
};

Napi::FunctionReference* ProcessGroup::constructor = nullptr;

// Rank 0's values of `tensors` on every rank, one broadcast per dtype of all of them flattened together (as c10d's
// broadcast_coalesced, whose signature differs between libtorch versions).
void broadcastFromRankZero(GroupBackend& group, const std::vector<torch::Tensor>& tensors) {
  torch::NoGradGuard noGrad;
  std::vector<at::ScalarType> dtypes;
  for (const torch::Tensor& t : tensors) {
    if (std::find(dtypes.begin(), dtypes.end(), t.scalar_type()) == dtypes.end()) dtypes.push_back(t.scalar_type());
  }
  for (at::ScalarType dtype : dtypes) {
    std::vector<torch::Tensor> group_of_dtype;
    for (const torch::Tensor& t : tensors) {
      if (t.scalar_type() == dtype) group_of_dtype.push_back(t.reshape(-1));
    }
    std::vector<torch::Tensor> flat{torch::cat(group_of_dtype)};
    group.broadcast(flat)->wait();
    int64_t offset = 0;
    for (const torch::Tensor& t : tensors) {
      if (t.scalar_type() != dtype) continue;
      const_cast<torch::Tensor&>(t).copy_(flat[0].narrow(0, offset, t.numel()).view(t.sizes()));
      offset += t.numel();
    }
  }
}

// DistributedDataParallel's gradient averaging, on c10d's all-reduce. Parameters are packed, in reverse order (the
// order backward produces their gradients), into buckets of DDP's default sizes: 1 MB for the first, so that the first
// all-reduce starts early in backward, 25 MB after it. An autograd hook copies each gradient into its bucket as soon as
// it is computed, and a full bucket's all-reduce starts at once on Gloo's threads while backward goes on; buckets start
// strictly in order, so every rank issues the same collectives in the same sequence. (c10d's own Reducer does the
// same, but Debian's libtorch-dev lacks headers reducer.hpp includes.)
class GradientAllReduce {
 public:
  GradientAllReduce(const std::vector<torch::Tensor>& parameters, c10::intrusive_ptr<GroupBackend> group)
      : group_(std::move(group)) {
    constexpr int64_t kFirstBucketBytes = int64_t{1} << 20;
    constexpr int64_t kBucketBytes = int64_t{25} << 20;
    for (auto p = parameters.rbegin(); p != parameters.rend(); ++p) {
      const int64_t limit = buckets_.size() <= 1 ? kFirstBucketBytes : kBucketBytes;
      if (buckets_.empty() || buckets_.back().bytes + p->numel() * p->element_size() > limit) buckets_.emplace_back();
      Bucket& bucket = buckets_.back();
      slots_.push_back({*p, buckets_.size() - 1, bucket.elements});
      bucket.elements += p->numel();
      bucket.bytes += p->numel() * p->element_size();
      bucket.slots++;
    }
    for (Bucket& bucket : buckets_) bucket.flat = torch::zeros({bucket.elements}, parameters.front().options());
    for (size_t i = 0; i < slots_.size(); ++i) {
      // The hook of a leaf sees its whole gradient (all uses summed) just before it is accumulated into .grad.
      slots_[i].parameter.register_hook([this, i](const torch::Tensor& grad) { ready(i, grad); });
    }
  }

  // Before backward: expect every gradient anew.
  void arm() {
    for (Bucket& bucket : buckets_) {
      bucket.pending = bucket.slots;
      bucket.work.reset();
    }
    for (Slot& slot : slots_) slot.ready = false;
    nextToStart_ = 0;
    armed_ = true;
  }

  // After backward: start what backward did not fill (parameters without a gradient count as zero, as in DDP), wait
  // for every bucket, and write the averages into the parameters' .grad.
  void finish() {
    armed_ = false;
    for (Slot& slot : slots_) {
      if (!slot.ready) view(slot).zero_();
    }
    for (Bucket& bucket : buckets_) bucket.pending = 0;
    startReadyBuckets();
    const double worldSize = static_cast<double>(group_->getSize());
    torch::NoGradGuard noGrad;
    for (Bucket& bucket : buckets_) {
      bucket.work->wait();
      bucket.flat.div_(worldSize);
    }
    for (Slot& slot : slots_) {
      torch::Tensor& grad = slot.parameter.mutable_grad();
      if (grad.defined()) {
        grad.copy_(view(slot));
      } else {
        grad = view(slot).clone();
      }
    }
  }

 private:
  struct Bucket {
    torch::Tensor flat;
    int64_t elements = 0;
    int64_t bytes = 0;
    int slots = 0;
    int pending = 0;
    c10::intrusive_ptr<c10d::Work> work;
  };
  struct Slot {
    torch::Tensor parameter;
    size_t bucket;
    int64_t offset;
    bool ready = false;
  };

  torch::Tensor view(const Slot& slot) {
    return buckets_[slot.bucket].flat.narrow(0, slot.offset, slot.parameter.numel()).view(slot.parameter.sizes());
  }

  void ready(size_t index, const torch::Tensor& grad) {
    if (!armed_) return;
    Slot& slot = slots_[index];
    torch::NoGradGuard noGrad;
    view(slot).copy_(grad);
    slot.ready = true;
    buckets_[slot.bucket].pending--;
    startReadyBuckets();
  }

  void startReadyBuckets() {
    while (nextToStart_ < buckets_.size() && buckets_[nextToStart_].pending == 0) {
      std::vector<torch::Tensor> tensors{buckets_[nextToStart_].flat};
      buckets_[nextToStart_].work = group_->allreduce(tensors);
      nextToStart_++;
    }
  }

  c10::intrusive_ptr<GroupBackend> group_;
  std::vector<Bucket> buckets_;
  std::vector<Slot> slots_;
  size_t nextToStart_ = 0;
  bool armed_ = false;
};
#endif

// ---- The network object --------------------------------------------------------------------------------------------

class Network : public Napi::ObjectWrap<Network> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Network",
                       {
                           InstanceMethod<&Network::Guarded<&Network::SetOptimizer>>("setOptimizer"),
                           InstanceMethod<&Network::Guarded<&Network::SetLearningRate>>("setLearningRate"),
                           InstanceMethod<&Network::Guarded<&Network::TrainStep>>("trainStep"),
                           InstanceMethod<&Network::Guarded<&Network::Forward>>("forward"),
                           InstanceMethod<&Network::Guarded<&Network::GetWeights>>("getWeights"),
                           InstanceMethod<&Network::Guarded<&Network::SetWeights>>("setWeights"),
                           InstanceMethod<&Network::Guarded<&Network::GetOptimizerState>>("getOptimizerState"),
                           InstanceMethod<&Network::Guarded<&Network::SetOptimizerState>>("setOptimizerState"),
                           InstanceMethod<&Network::Guarded<&Network::ManualSeed>>("manualSeed"),
#if MIEN_WITH_C10D
                           InstanceMethod<&Network::Guarded<&Network::JoinGroup>>("joinGroup"),
                           InstanceMethod<&Network::Guarded<&Network::SyncBuffers>>("syncBuffers"),
#endif
                           InstanceMethod<&Network::Dispose>("dispose"),
                       });
  }

  // new Network(spec, device, seed?, { bf16, channelsLast })
  explicit Network(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Network>(info) {
    translateErrors(info.Env(), [&] {
      const Napi::Object spec = info[0].As<Napi::Object>();
      const std::string device = info[1].As<Napi::String>().Utf8Value();
      if (device == "cuda" || device.rfind("cuda:", 0) == 0) {
        if (!torch::cuda::is_available()) throw EngineError("CUDA is not available: no GPU is visible to libtorch");
        device_ = torch::Device(device);
      } else if (device != "cpu") {
        throw EngineError("unknown device \"" + device + "\"");
      }
      if (info[2].IsNumber()) torch::manual_seed(info[2].As<Napi::Number>().Int64Value());
      const Napi::Object precision = info[3].As<Napi::Object>();
      bf16_ = precision.Get("bf16").As<Napi::Boolean>().Value();
      channelsLast_ = precision.Get("channelsLast").As<Napi::Boolean>().Value();

      const Napi::Array input = spec.Get("input").As<Napi::Array>();
      inputShape_ = {input.Get(0u).As<Napi::Number>().Int64Value(), input.Get(1u).As<Napi::Number>().Int64Value(),
                     input.Get(2u).As<Napi::Number>().Int64Value()};
      inputSize_ = inputShape_[0] * inputShape_[1] * inputShape_[2];
      classes_ = spec.Get("classes").As<Napi::Number>().Int64Value();

      // Built on the CPU so that a seed gives the same initial weights on every device.
      torch::NoGradGuard noGrad;
      NetworkBuilder builder;
      torch::Tensor probe = torch::zeros({1, inputShape_[0], inputShape_[1], inputShape_[2]});
      model_ = builder.sequence(spec.Get("layers").As<Napi::Array>(), probe, "layers");
      if (probe.dim() != 2 || probe.size(1) != classes_) {
        throw EngineError("the network must end in " + std::to_string(classes_) + " logits");
      }
      model_->to(device_);  // moves parameters and buffers in place, so the layout's tensors follow
      if (channelsLast_) {
        // set_data keeps each parameter's identity, so the layout and the optimizer see the new memory format.
        for (torch::Tensor& p : model_->parameters()) {
          if (p.dim() == 4) p.set_data(p.contiguous(at::MemoryFormat::ChannelsLast));
        }
      }
      model_->train();
      layout_ = std::move(builder.layout);
      parameters_ = model_->parameters();
    });
  }

 private:
  template <Napi::Value (Network::*Method)(const Napi::CallbackInfo&)>
  Napi::Value Guarded(const Napi::CallbackInfo& info) {
    return translateErrors(info.Env(), [&] {
      if (!model_) throw EngineError("this network was disposed");
      if (busy_) throw EngineError("this network is busy: await its trainStep or forward first");
      return (this->*Method)(info);
    });
  }

  // libtorch 2.4 replaced the CPU-only autocast switches with ones that take the device type (the old ones went later).
  static void setBf16CpuAutocast(bool enabled) {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
    at::autocast::set_autocast_enabled(at::kCPU, enabled);
    if (enabled) at::autocast::set_autocast_dtype(at::kCPU, at::kBFloat16);
#else
    at::autocast::set_cpu_enabled(enabled);
    if (enabled) at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
#endif
  }

  // The network's logits in float32, with the precision options: a bf16 forward under CPU autocast (the backward
  // follows the same casts) and channels-last (NHWC) activations, which oneDNN's convolutions prefer.
  torch::Tensor logitsFor(const torch::Tensor& input) {
    const torch::Tensor x = channelsLast_ ? input.contiguous(at::MemoryFormat::ChannelsLast) : input;
    if (!bf16_) return model_->forward(x);
    // Autocast is per thread, and this runs on whichever libuv worker took the step.
    setBf16CpuAutocast(true);
    torch::Tensor logits;
    try {
      logits = model_->forward(x);
    } catch (...) {
      setBf16CpuAutocast(false);
      throw;
    }
    setBf16CpuAutocast(false);
    at::autocast::clear_cache();
    return logits.to(torch::kFloat);
  }

  // setOptimizer(type, lr, weightDecay, momentum, beta1, beta2)
  Napi::Value SetOptimizer(const Napi::CallbackInfo& info) {
    namespace optim = torch::optim;
    const std::string type = info[0].As<Napi::String>().Utf8Value();
    const double lr = info[1].As<Napi::Number>().DoubleValue();
    const double weightDecay = info[2].As<Napi::Number>().DoubleValue();
    const double momentum = info[3].As<Napi::Number>().DoubleValue();
    const auto betas = std::make_tuple(info[4].As<Napi::Number>().DoubleValue(), info[5].As<Napi::Number>().DoubleValue());
    if (type == "adam") {
      optimizer_ = std::make_unique<optim::Adam>(parameters_, optim::AdamOptions(lr).betas(betas).weight_decay(weightDecay));
    } else if (type == "adamw") {
      optimizer_ =
          std::make_unique<optim::AdamW>(parameters_, optim::AdamWOptions(lr).betas(betas).weight_decay(weightDecay));
    } else if (type == "sgd") {
      // torch rejects Nesterov without momentum; with momentum 0 both variants are plain SGD anyway.
      optimizer_ = std::make_unique<optim::SGD>(
          parameters_, optim::SGDOptions(lr).momentum(momentum).nesterov(momentum > 0).weight_decay(weightDecay));
    } else {
      throw EngineError("unknown optimizer \"" + type + "\" (use adam, adamw or sgd)");
    }
    optimizerType_ = type;
    return info.Env().Undefined();
  }

  Napi::Value SetLearningRate(const Napi::CallbackInfo& info) {
    const double lr = info[0].As<Napi::Number>().DoubleValue();
    for (auto& group : optimizer().param_groups()) group.options().set_lr(lr);
    return info.Env().Undefined();
  }

  // trainStep(images, labels, softTargets | undefined, labelSmoothing, softWeight, temperature, classWeights | undefined)
  // → Promise<{ loss, labelLoss, correct }>. The loss is (1 − w) · CE(logits, labels) + w · T² · CE(logits / T,
  // softTargets), label smoothing on both terms; without soft targets it is CE(logits, labels); labelLoss is that label
  // term alone, on validation's scale. Class weights weigh each face by its label's weight in both terms (Σ w_y · CE /
  // Σ w_y). Torch's own `weight` would scale each target class instead (the soft targets, and the smoothing's uniform
  // share), which on a flat tempered teacher distribution tilts every face toward the heavy classes. The step runs on a
  // libuv worker thread.
  Napi::Value TrainStep(const Napi::CallbackInfo& info) {
    Napi::Float32Array images = float32Arg(info, 0, "images");
    Napi::Int32Array labels = typedArrayArg<Napi::Int32Array, napi_int32_array>(info, 1, "labels");
    const double labelSmoothing = info[3].As<Napi::Number>().DoubleValue();
    const double softWeight = info[4].As<Napi::Number>().DoubleValue();
    const double temperature = info[5].As<Napi::Number>().DoubleValue();
    const int64_t n = static_cast<int64_t>(labels.ElementLength());
    for (const int32_t* label = labels.Data(); label != labels.Data() + n; ++label) {
      if (*label < 0 || *label >= classes_) {
        throw EngineError("label " + std::to_string(*label) + " is outside 0–" + std::to_string(classes_ - 1));
      }
    }
    // Owned copies: the JS buffers may change or be collected while the worker runs.
    torch::Tensor input = batch(images, n).clone();
    torch::Tensor hardLabels = torch::from_blob(labels.Data(), {n}, torch::kInt).to(device_, torch::kLong);
    torch::Tensor soft;
    if (info[2].IsTypedArray()) {
      Napi::Float32Array softTargets = float32Arg(info, 2, "softTargets");
      if (static_cast<int64_t>(softTargets.ElementLength()) != n * classes_) {
        throw EngineError("softTargets has " + std::to_string(softTargets.ElementLength()) + " values for " +
                          std::to_string(n) + " labels, expected " + std::to_string(n * classes_));
      }
      soft = torch::from_blob(softTargets.Data(), {n, classes_}, torch::kFloat).to(device_).clone();
    }
    torch::Tensor classWeights;
    if (info[6].IsTypedArray()) {
      Napi::Float32Array weights = float32Arg(info, 6, "classWeights");
      if (static_cast<int64_t>(weights.ElementLength()) != classes_) {
        throw EngineError("classWeights has " + std::to_string(weights.ElementLength()) + " values, expected " +
                          std::to_string(classes_));
      }
      classWeights = torch::from_blob(weights.Data(), {classes_}, torch::kFloat).to(device_).clone();
    }
    Optimizer& opt = optimizer();
    return runAsync(info, [this, &opt, input, hardLabels, soft, labelSmoothing, softWeight, temperature, classWeights] {
      setTraining(true);
#if MIEN_WITH_C10D
      // As DistributedDataParallel's forward: rank 0's batch-norm statistics to every rank first.
      if (gradients_) broadcastBuffers();
#endif
      torch::Tensor logits = logitsFor(input);
      // Per-face cross-entropies, label smoothing included, averaged with each face weighing its label's class weight;
      // given probabilities, cross_entropy computes -(t · log_softmax(logits)).sum(1), smoothing t likewise.
      const auto perFace = F::CrossEntropyFuncOptions().label_smoothing(labelSmoothing).reduction(torch::kNone);
      const torch::Tensor faceWeights = classWeights.defined() ? classWeights.index_select(0, hardLabels) : torch::Tensor();
      const auto mean = [&faceWeights](const torch::Tensor& losses) {
        return faceWeights.defined() ? (losses * faceWeights).sum() / faceWeights.sum() : losses.mean();
      };
      const torch::Tensor labelLoss = mean(F::cross_entropy(logits, hardLabels, perFace));
      torch::Tensor loss = labelLoss;
      if (soft.defined()) {
        loss = softWeight * temperature * temperature * mean(F::cross_entropy(logits / temperature, soft, perFace)) +
               (1 - softWeight) * labelLoss;
      }
      for (torch::Tensor& p : parameters_) p.mutable_grad().reset();  // set_to_none: backward allocates fresh grads
#if MIEN_WITH_C10D
      if (gradients_) gradients_->arm();
#endif
      loss.backward();
#if MIEN_WITH_C10D
      if (gradients_) gradients_->finish();
#endif
      opt.step();
      const double lossValue = loss.item<double>();
      const double labelLossValue = labelLoss.item<double>();
      const int64_t correct = logits.argmax(1).eq(hardLabels).sum().item<int64_t>();
      return [lossValue, labelLossValue, correct](Napi::Env env) -> Napi::Value {
        Napi::Object result = Napi::Object::New(env);
        result.Set("loss", lossValue);
        result.Set("labelLoss", labelLossValue);
        result.Set("correct", correct);
        return result;
      };
    });
  }

  // forward(images) → Promise<logits> in eval mode, on a libuv worker thread
  Napi::Value Forward(const Napi::CallbackInfo& info) {
    Napi::Float32Array images = float32Arg(info, 0, "images");
    if (images.ElementLength() % inputSize_ != 0 || images.ElementLength() == 0) {
      throw EngineError("images has " + std::to_string(images.ElementLength()) + " values, not a positive multiple of " +
                        std::to_string(inputSize_));
    }
    torch::Tensor input = batch(images, images.ElementLength() / inputSize_).clone();
    return runAsync(info, [this, input] {
      torch::NoGradGuard noGrad;
      setTraining(false);
      torch::Tensor logits = logitsFor(input).detach().to(torch::kCPU, torch::kFloat).contiguous();
      return [logits](Napi::Env env) -> Napi::Value { return toFloat32Array(env, logits); };
    });
  }

  Napi::Value GetWeights(const Napi::CallbackInfo& info) {
    Napi::Array out = Napi::Array::New(info.Env(), layout_.size());
    for (size_t i = 0; i < layout_.size(); ++i) out.Set(i, toFloat32Array(info.Env(), layout_[i].tensor));
    return out;
  }

  Napi::Value SetWeights(const Napi::CallbackInfo& info) {
    if (!info[0].IsArray()) throw Napi::TypeError::New(info.Env(), "weights must be an array of Float32Array");
    const Napi::Array weights = info[0].As<Napi::Array>();
    if (weights.Length() != layout_.size()) {
      throw EngineError("setWeights got " + std::to_string(weights.Length()) + " tensors, the network has " +
                        std::to_string(layout_.size()));
    }
    // Check everything before writing anything, so a mismatch leaves the network as it was.
    std::vector<Napi::Float32Array> values;
    for (uint32_t i = 0; i < weights.Length(); ++i) {
      Napi::Value value = weights.Get(i);
      const LayoutTensor& slot = layout_[i];
      if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
        throw Napi::TypeError::New(info.Env(), "weights[" + std::to_string(i) + "] (" + slot.name + ") is not a Float32Array");
      }
      values.push_back(value.As<Napi::Float32Array>());
      if (static_cast<int64_t>(values.back().ElementLength()) != slot.tensor.numel()) {
        throw EngineError("weights[" + std::to_string(i) + "] (" + slot.name + ") has " +
                          std::to_string(values.back().ElementLength()) + " values, expected " +
                          std::to_string(slot.tensor.numel()));
      }
    }
    torch::NoGradGuard noGrad;
    for (size_t i = 0; i < layout_.size(); ++i) {
      torch::Tensor& tensor = layout_[i].tensor;
      tensor.copy_(torch::from_blob(values[i].Data(), tensor.sizes(), torch::kFloat));
    }
    return info.Env().Undefined();
  }

  // Besides the optimizer, the state holds the RNG that drives dropout: a run resumed from a checkpoint then draws the
  // same dropout masks as one never interrupted. The bytes start with a line naming the optimizer type, because torch
  // loads another type's state with an internal assertion failure, or not at all.
  Napi::Value GetOptimizerState(const Napi::CallbackInfo& info) {
    torch::serialize::OutputArchive optimizerArchive;
    optimizer().save(optimizerArchive);
    torch::serialize::OutputArchive archive;
    archive.write("optimizer", optimizerArchive);
    archive.write("rng", randomGeneratorState(), /*is_buffer=*/true);
    std::ostringstream stream;
    stream << kStateHeader << optimizerType_ << '\n';
    archive.save_to(stream);
    const std::string bytes = stream.str();
    Napi::Uint8Array out = Napi::Uint8Array::New(info.Env(), bytes.size());
    std::memcpy(out.Data(), bytes.data(), bytes.size());
    return out;
  }

  Napi::Value SetOptimizerState(const Napi::CallbackInfo& info) {
    Napi::Uint8Array bytes = typedArrayArg<Napi::Uint8Array, napi_uint8_array>(info, 0, "optimizer state");
    const std::string state(reinterpret_cast<const char*>(bytes.Data()), bytes.ByteLength());
    const size_t headerEnd = state.find('\n');
    if (state.rfind(kStateHeader, 0) != 0 || headerEnd == std::string::npos) {
      throw EngineError("not a mien optimizer state");
    }
    const std::string savedType = state.substr(kStateHeader.size(), headerEnd - kStateHeader.size());
    Optimizer& opt = optimizer();
    if (savedType != optimizerType_) {
      throw EngineError("the optimizer state is for " + savedType + ", but this network's optimizer is " + optimizerType_);
    }
    // torch reads the archive at absolute offsets, so it gets a stream of its own bytes only.
    std::istringstream stream(state.substr(headerEnd + 1));
    torch::serialize::InputArchive archive;
    archive.load_from(stream, device_);
    torch::serialize::InputArchive optimizerArchive;
    archive.read("optimizer", optimizerArchive);
    torch::Tensor rng;
    archive.read("rng", rng, /*is_buffer=*/true);
    opt.load(optimizerArchive);
    at::Generator generator = randomGenerator();
    std::lock_guard<std::mutex> lock(generator.mutex());
    generator.set_state(rng.cpu());
    return info.Env().Undefined();
  }

  // manualSeed(n): reseeds the generator dropout draws from (a group's ranks each seed their own stream).
  Napi::Value ManualSeed(const Napi::CallbackInfo& info) {
    const uint64_t seed = static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value());
    at::Generator generator = randomGenerator();
    std::lock_guard<std::mutex> lock(generator.mutex());
    generator.set_current_seed(seed);
    return info.Env().Undefined();
  }

#if MIEN_WITH_C10D
  // joinGroup(group) → Promise: checks that every rank built the same network, copies rank 0's weights and buffers to
  // all, and installs the gradient all-reduce, so that from now on every trainStep averages the gradients of all ranks
  // before the optimizer step.
  Napi::Value JoinGroup(const Napi::CallbackInfo& info) {
    if (!info[0].IsObject()) throw EngineError("joinGroup takes a ProcessGroup");
    auto group = ProcessGroup::Unwrap(info[0].As<Napi::Object>())->group();
    if (gradients_) throw EngineError("this network already belongs to a group");
    return runAsync(info, [this, group] {
      checkSameLayoutAsRankZero(*group);
      std::vector<torch::Tensor> states = parameters_;
      for (const torch::Tensor& buffer : model_->buffers()) states.push_back(buffer);
      {
        torch::NoGradGuard noGrad;
        broadcastFromRankZero(*group, states);
      }
      gradients_ = std::make_unique<GradientAllReduce>(parameters_, group);
      group_ = group;
      return [](Napi::Env env) -> Napi::Value { return env.Undefined(); };
    });
  }

  // Every rank compares its tensor sizes with rank 0's, then all learn whether any differed, so that they fail
  // together instead of the odd one out leaving the rest waiting in the next collective.
  void checkSameLayoutAsRankZero(GroupBackend& group) {
    std::vector<int64_t> sizes{static_cast<int64_t>(layout_.size())};
    for (const LayoutTensor& slot : layout_) sizes.push_back(slot.tensor.numel());
    torch::Tensor mine = torch::tensor(sizes);
    std::vector<torch::Tensor> count{torch::tensor({mine.numel()})};
    group.broadcast(count)->wait();
    std::vector<torch::Tensor> rankZero{count[0].item<int64_t>() == mine.numel() ? mine.clone() : torch::zeros_like(mine)};
    const bool sameCount = count[0].item<int64_t>() == mine.numel();
    if (sameCount) group.broadcast(rankZero)->wait();
    // A rank whose count differs skipped that broadcast, so the counts decide for everyone before anything else.
    std::vector<torch::Tensor> mismatch{torch::tensor({sameCount && rankZero[0].equal(mine) ? 0.0 : 1.0})};
    group.allreduce(mismatch)->wait();
    if (mismatch[0].item<double>() > 0) {
      throw EngineError("the ranks built different networks (tensor sizes differ from rank 0's): start every rank with the same --arch");
    }
  }

  // syncBuffers() → Promise: rank 0's batch-norm statistics to every rank (before validating or saving).
  Napi::Value SyncBuffers(const Napi::CallbackInfo& info) {
    if (!group_) throw EngineError("this network belongs to no group");
    return runAsync(info, [this] {
      broadcastBuffers();
      return [](Napi::Env env) -> Napi::Value { return env.Undefined(); };
    });
  }

  void broadcastBuffers() {
    std::vector<torch::Tensor> buffers = model_->buffers();
    if (buffers.empty()) return;
    torch::NoGradGuard noGrad;
    broadcastFromRankZero(*group_, buffers);
  }
#endif

  // Unguarded: disposing twice is harmless.
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    if (busy_) throw Napi::Error::New(info.Env(), "this network is busy: await its trainStep or forward before disposing it");
#if MIEN_WITH_C10D
    gradients_.reset();
    group_.reset();
#endif
    optimizer_.reset();
    layout_.clear();
    parameters_.clear();
    model_ = nn::Sequential(nullptr);
    return info.Env().Undefined();
  }

  using Optimizer = torch::optim::Optimizer;

  // Runs `work` off the JavaScript thread (see queueWork). While it runs the network is busy: every other method
  // throws rather than race with it.
  template <typename Work>
  Napi::Value runAsync(const Napi::CallbackInfo& info, Work work) {
    busy_ = true;
    return queueWork(info.Env(), "mien.train", std::move(work), [this] { busy_ = false; }, info.This().As<Napi::Object>());
  }

  Optimizer& optimizer() {
    if (!optimizer_) throw EngineError("no optimizer: call setOptimizer first");
    return *optimizer_;
  }

  // The images as an n×C×H×W tensor on the device; on the CPU it reads the JS memory in place.
  torch::Tensor batch(Napi::Float32Array images, int64_t n) {
    if (n == 0) throw EngineError("empty batch");
    if (static_cast<int64_t>(images.ElementLength()) != n * inputSize_) {
      throw EngineError("images has " + std::to_string(images.ElementLength()) + " values for " + std::to_string(n) +
                        " labels, expected " + std::to_string(n * inputSize_));
    }
    return torch::from_blob(images.Data(), {n, inputShape_[0], inputShape_[1], inputShape_[2]}, torch::kFloat)
        .to(device_);
  }

  // The generator dropout draws from on this network's device (shared by every network there).
  at::Generator randomGenerator() const { return at::globalContext().defaultGenerator(device_); }

  torch::Tensor randomGeneratorState() const {
    at::Generator generator = randomGenerator();
    std::lock_guard<std::mutex> lock(generator.mutex());
    return generator.get_state();
  }

  void setTraining(bool training) {
    if (model_->is_training() != training) model_->train(training);
  }

  nn::Sequential model_{nullptr};
  torch::Device device_{torch::kCPU};
  std::vector<int64_t> inputShape_;  // C, H, W
  int64_t inputSize_ = 0;
  int64_t classes_ = 0;
  std::vector<LayoutTensor> layout_;
  std::vector<torch::Tensor> parameters_;
  std::unique_ptr<Optimizer> optimizer_;
  std::string optimizerType_;
  static inline const std::string kStateHeader = "mien optimizer ";
#if MIEN_WITH_C10D
  std::unique_ptr<GradientAllReduce> gradients_;
  c10::intrusive_ptr<GroupBackend> group_;
#endif
  bool busy_ = false;
  bool bf16_ = false;
  bool channelsLast_ = false;
};

// The folder of the libtorch actually loaded, which may differ from the one built against.
std::string loadedLibtorchDir() {
  Dl_info library;
  if (!dladdr(reinterpret_cast<void*>(&at::get_num_threads), &library) || !library.dli_fname) return "";
  // Resolved, so Debian's merged /lib → /usr/lib shows as the path the package installed.
  char* resolved = realpath(library.dli_fname, nullptr);
  const std::string file = resolved ? resolved : library.dli_fname;
  free(resolved);
  return file.substr(0, file.find_last_of('/'));
}

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("torchVersion", TORCH_VERSION);
  out.Set("builtWithCuda", MIEN_WITH_CUDA == 1);
  Napi::Array backends = Napi::Array::New(info.Env());
#if MIEN_WITH_GLOO
  backends.Set(backends.Length(), "gloo");
#endif
#if MIEN_WITH_NCCL
  backends.Set(backends.Length(), "nccl");
#endif
  out.Set("distributedBackends", backends);
  out.Set("cudaAvailable", torch::cuda::is_available());
  out.Set("libtorch", loadedLibtorchDir());
  return out;
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  const int64_t threads = info[0].As<Napi::Number>().Int64Value();
  if (threads < 1) throw Napi::RangeError::New(info.Env(), "threads must be at least 1");
  at::set_num_threads(static_cast<int>(threads));
  return info.Env().Undefined();
}

// libtorch's default CPU allocator hands every buffer back to glibc, which returns the large ones (a batch's
// activations are tens of MB) to the kernel at once, so every training step page-faults them in again: on the 2-core
// machine that was over half the step's time in the kernel. This one keeps freed buffers by size and gives them to
// the next request of the same size: each step asks for the same shapes as the last, so after the first step no
// allocation reaches the kernel. (LD_PRELOADing tcmalloc does the same for the whole process; `npm run bench:train`
// measures both.) The cache holds at most kMaxCachedBytes; beyond it buffers are freed as before.
class CachingCpuAllocator final : public c10::Allocator {
 public:
// libtorch 2.3 made allocate non-const and added copy_data.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 3)
  c10::DataPtr allocate(size_t nbytes) override {
#else
  c10::DataPtr allocate(size_t nbytes) const override {
#endif
    void* data = take(nbytes);
    if (!data) {
      // The size goes in a header before the data, so the deleter (which libtorch calls with the data pointer
      // alone) knows which list the buffer returns to; kHeader keeps the data as aligned as alloc_cpu's.
      auto* base = static_cast<char*>(c10::alloc_cpu(nbytes + kHeader));
      *reinterpret_cast<size_t*>(base) = nbytes;
      data = base + kHeader;
    }
    return {data, data, &release, c10::Device(c10::DeviceType::CPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &release; }
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 3)
  void copy_data(void* dest, const void* src, std::size_t count) const override { default_copy_data(dest, src, count); }
#endif

 private:
  static constexpr size_t kHeader = c10::gAlignment;
  static constexpr size_t kMaxCachedBytes = size_t{4} << 30;
  // Buffers smaller than this come from glibc's arenas, which keep them; caching them would only add a lock.
  static constexpr size_t kMinCachedBytes = size_t{1} << 16;

  static void* take(size_t nbytes) {
    if (nbytes < kMinCachedBytes) return nullptr;
    std::lock_guard<std::mutex> lock(mutex());
    auto& free = freeBuffers()[nbytes];
    if (free.empty()) return nullptr;
    void* data = free.back();
    free.pop_back();
    cachedBytes() -= nbytes;
    return data;
  }

  static void release(void* data) {
    char* base = static_cast<char*>(data) - kHeader;
    const size_t size = *reinterpret_cast<size_t*>(base);
    if (size >= kMinCachedBytes) {
      std::lock_guard<std::mutex> lock(mutex());
      if (cachedBytes() + size <= kMaxCachedBytes) {
        freeBuffers()[size].push_back(data);
        cachedBytes() += size;
        return;
      }
    }
    c10::free_cpu(base);
  }

  // Leaked on purpose: tensors may still be freed during static destruction at exit.
  static std::mutex& mutex() {
    static auto* m = new std::mutex;
    return *m;
  }
  static std::unordered_map<size_t, std::vector<void*>>& freeBuffers() {
    static auto* buffers = new std::unordered_map<size_t, std::vector<void*>>;
    return *buffers;
  }
  static size_t& cachedBytes() {
    static size_t bytes = 0;
    return bytes;
  }
};

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  // Priority 1 outranks libtorch's own registration (0). MIEN_CPU_CACHING=0 keeps libtorch's allocator, for A/B runs.
  const char* caching = std::getenv("MIEN_CPU_CACHING");
  if (!caching || std::strcmp(caching, "0") != 0) c10::SetCPUAllocator(new CachingCpuAllocator, 1);
  exports.Set("Network", Network::Define(env));
  exports.Set("info", Napi::Function::New<Info>(env, "info"));
  exports.Set("setThreads", Napi::Function::New<SetThreads>(env, "setThreads"));
#if MIEN_WITH_C10D
  ProcessGroup::Define(env);
  exports.Set("connectGroup", Napi::Function::New<ProcessGroup::Connect>(env, "connectGroup"));
#endif
  return exports;
}

}  // namespace

NODE_API_MODULE(mien_torch, Init)
