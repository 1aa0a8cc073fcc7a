// A C ABI over the parts of PyTorch's c10d that icrl uses: a TCPStore, a Gloo (and, with
// ICRL_NCCL, an NCCL) process group, all-reduce (sum) of one tensor, broadcast and barrier.
// Compiled by agent/build.rs against the torch wheel's headers and Debian's libgloo-dev.
//
// Every function catches every exception and returns a null handle or a non-zero status;
// the message is then in icrl_c10d_last_error() (per thread). Rust owns every handle and
// frees it with the matching *_free function.

#include <chrono>
#include <cstdint>
#include <exception>
#include <sstream>
#include <string>
#include <vector>

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef ICRL_NCCL
#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

namespace {

thread_local std::string last_error;

struct Store {
  c10::intrusive_ptr<c10d::Store> store;
};

struct Group {
  c10::intrusive_ptr<c10d::Backend> backend;
  std::chrono::milliseconds timeout;
};

template <typename F>
int guarded(F&& f) {
  try {
    f();
    return 0;
  } catch (const c10::Error& e) {
    // Without the C++ backtrace that what() appends.
    last_error = e.what_without_backtrace();
  } catch (const std::exception& e) {
    last_error = e.what();
  } catch (...) {
    last_error = "unknown C++ exception";
  }
  return 1;
}

// The non-empty items of a `sep`-separated list.
std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, sep)) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

}  // namespace

extern "C" {

const char* icrl_c10d_last_error() { return last_error.c_str(); }

int icrl_c10d_has_nccl() {
#ifdef ICRL_NCCL
  return 1;
#else
  return 0;
#endif
}

// A TCPStore at host:port (the server when is_server), under the key prefix `prefix`.
void* icrl_store_new(const char* host, int port, int is_server, int world, int64_t timeout_ms,
                     const char* prefix) {
  Store* out = nullptr;
  guarded([&] {
    c10d::TCPStoreOptions opts;
    opts.port = static_cast<std::uint16_t>(port);
    opts.isServer = is_server != 0;
    opts.numWorkers = world;
    // The server does not wait for the others here: the process group's rendezvous does,
    // under the same timeout, and names what is missing.
    opts.waitWorkers = false;
    opts.timeout = std::chrono::milliseconds(timeout_ms);
    auto tcp = c10::make_intrusive<c10d::TCPStore>(std::string(host), opts);
    c10::intrusive_ptr<c10d::Store> store = tcp;
    if (prefix != nullptr && prefix[0] != '\0') {
      store = c10::make_intrusive<c10d::PrefixStore>(std::string(prefix), store);
    }
    out = new Store{store};
  });
  return out;
}

void icrl_store_free(void* store) { delete static_cast<Store*>(store); }

// A Gloo process group. `interfaces` (comma-separated, GLOO_SOCKET_IFNAME's value) binds
// those network interfaces; else `hostname` (an address) is bound; else Gloo's default
// (this machine's hostname, falling back to the loopback).
void* icrl_pg_gloo_new(void* store, int rank, int size, const char* interfaces,
                       const char* hostname, int64_t timeout_ms, int threads) {
  Group* out = nullptr;
  guarded([&] {
    auto timeout = std::chrono::milliseconds(timeout_ms);
    auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
    std::string ifs = interfaces ? interfaces : "";
    std::string host = hostname ? hostname : "";
    if (!ifs.empty()) {
      for (const auto& name : split(ifs, ',')) {
        opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(name));
      }
    } else if (!host.empty()) {
      opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(host));
    } else {
      opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    }
    if (threads > 0) opts->threads = threads;
    auto pg = c10::make_intrusive<c10d::ProcessGroupGloo>(static_cast<Store*>(store)->store,
                                                          rank, size, opts);
    out = new Group{pg, timeout};
  });
  return out;
}

// An NCCL process group on CUDA device `device` (LOCAL_RANK's): made this thread's current
// device and bound to the group, which connects at once (so a missing peer fails here, not
// at the first collective) and runs its barriers there.
void* icrl_pg_nccl_new(void* store, int rank, int size, int device, int64_t timeout_ms) {
  Group* out = nullptr;
#ifdef ICRL_NCCL
  guarded([&] {
    auto timeout = std::chrono::milliseconds(timeout_ms);
    auto index = static_cast<c10::DeviceIndex>(device);
    c10::cuda::set_device(index);
    auto opts = c10d::ProcessGroupNCCL::Options::create();
    opts->timeout = timeout;
    auto pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(static_cast<Store*>(store)->store,
                                                          rank, size, opts);
    at::Device cuda(at::kCUDA, index);
    pg->setBoundDeviceId(cuda);
    pg->eagerConnectSingleDevice(cuda);
    out = new Group{pg, timeout};
  });
#else
  (void)store;
  (void)rank;
  (void)size;
  (void)device;
  (void)timeout_ms;
  last_error = "this icrl was built without NCCL (cargo feature `nccl`)";
#endif
  return out;
}

void icrl_pg_free(void* pg) { delete static_cast<Group*>(pg); }

// Sum `tensor` (an at::Tensor*, contiguous) over the group, in place; waits.
int icrl_pg_allreduce_sum(void* pg, void* tensor) {
  return guarded([&] {
    auto* g = static_cast<Group*>(pg);
    std::vector<at::Tensor> tensors{*static_cast<at::Tensor*>(tensor)};
    c10d::AllreduceOptions opts;
    opts.reduceOp = c10d::ReduceOp::SUM;
    opts.timeout = g->timeout;
    auto work = g->backend->allreduce(tensors, opts);
    work->wait(g->timeout);
  });
}

// Broadcast `tensor` from `root` to every rank, in place; waits.
int icrl_pg_broadcast(void* pg, void* tensor, int root) {
  return guarded([&] {
    auto* g = static_cast<Group*>(pg);
    std::vector<at::Tensor> tensors{*static_cast<at::Tensor*>(tensor)};
    c10d::BroadcastOptions opts;
    opts.rootRank = root;
    opts.rootTensor = 0;
    opts.timeout = g->timeout;
    auto work = g->backend->broadcast(tensors, opts);
    work->wait(g->timeout);
  });
}

int icrl_pg_barrier(void* pg) {
  return guarded([&] {
    auto* g = static_cast<Group*>(pg);
    c10d::BarrierOptions opts;
    opts.timeout = g->timeout;
    auto work = g->backend->barrier(opts);
    work->wait(g->timeout);
  });
}

}  // extern "C"
