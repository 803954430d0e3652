// proglog._proglog: the Python extension, a thin pybind11 layer over the C API
// (proglog/proglog.h). Every blocking C call runs with the GIL released, and a
// client call that Ctrl-C interrupts is cancelled before KeyboardInterrupt is
// raised; the Python package (proglog/__init__.py) adds context managers,
// iterators and the exception classes this module raises. A call given a
// CancelToken is cancelled by its caller instead (proglog.aio does so when the
// awaiting task is cancelled). The C library's codes and balance policies are
// module constants (EINVAL, ..., BALANCE_LEADER).
#include <fcntl.h>
#include <poll.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "proglog/proglog.h"

namespace py = pybind11;

namespace {

// Exception classes by C code, set once by the Python package at import.
py::dict& ErrorClasses() {
  static auto* classes = new py::dict();  // Never destroyed: lives as long as the interpreter.
  return *classes;
}

// `offsets`, for a failed batch, holds the offsets of the records it appended
// first (proglog_error_written of them); they become the exception's `written`.
[[noreturn]] void Raise(int code, proglog_error* err,
                        const std::vector<uint64_t>* offsets = nullptr) {
  std::string message = err ? proglog_error_message(err) : proglog_code_name(code);
  py::list written;
  if (offsets != nullptr && err != nullptr) {
    const size_t count = std::min(proglog_error_written(err), offsets->size());
    for (size_t i = 0; i < count; ++i) written.append((*offsets)[i]);
  }
  const bool retryable = err && proglog_error_retryable(err);
  const bool outcome_unknown = err && proglog_error_outcome_unknown(err);
  const char* leader_c = err ? proglog_error_leader(err) : nullptr;
  py::object leader = leader_c ? py::object(py::str(leader_c)) : py::object(py::none());
  proglog_error_free(err);
  py::object cls = ErrorClasses().contains(py::int_(code)) ? ErrorClasses()[py::int_(code)]
                                                           : ErrorClasses()[py::int_(0)];
  py::object exc = cls(message, code, retryable, leader);
  exc.attr("written") = written;
  exc.attr("outcome_unknown") = outcome_unknown;
  PyErr_SetObject(cls.ptr(), exc.ptr());
  throw py::error_already_set();
}

void Check(int code, proglog_error* err) {
  if (code != PROGLOG_OK) Raise(code, err);
}

// ---- Blocking client calls that Ctrl-C interrupts ----
//
// Python runs signal handlers (Ctrl-C's KeyboardInterrupt) on the main thread only, between
// bytecodes or when C code calls PyErr_CheckSignals. A client call blocked in gRPC would hide
// Ctrl-C until its deadline. So a call made on the main thread is cancellable (a token in its
// proglog_call_options), and when Ctrl-C comes the token is triggered; the exception is
// raised only once the call has returned: no C call is ever left running with pointers into
// freed memory, and nothing lands after the caller was told it was interrupted.
//
// Usually (Python's own SIGINT handler, no wakeup fd set by the program) the call runs on the
// main thread itself, and SigintWatcher notices Ctrl-C through signal.set_wakeup_fd: Python's
// C-level handler writes each caught signal's number to that fd. This costs two
// set_wakeup_fd calls per call. Otherwise (a handler of the program's own, an asyncio loop
// owning the wakeup fd) the call runs on CallThread while the main thread waits and runs
// PyErr_CheckSignals every kSignalCheckInterval, which costs two thread hand-offs per call.
// Calls from other threads run where they are made (Python delivers signals to the main
// thread only).

constexpr auto kSignalCheckInterval = std::chrono::milliseconds(50);

// The main thread's helper: runs one job at a time, handed over under a mutex.
class CallThread {
 public:
  CallThread() {
    std::thread([this] { Loop(); }).detach();
  }
  CallThread(const CallThread&) = delete;
  CallThread& operator=(const CallThread&) = delete;

  // Starts `job(arg)` on the helper thread. False, with nothing started, if a job is still
  // running: a signal handler made a call while the main thread waits for another.
  bool TryStart(void (*job)(void*), void* arg) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (busy_) return false;
      busy_ = true;
      done_ = false;
      job_ = job;
      arg_ = arg;
    }
    work_ready_.notify_one();
    return true;
  }

  // Waits up to `period` (nullopt: without limit) for the job to end; true once it has.
  bool WaitDone(std::optional<std::chrono::milliseconds> period) {
    std::unique_lock<std::mutex> lock(mu_);
    if (period) {
      if (!work_done_.wait_for(lock, *period, [this] { return done_; })) return false;
    } else {
      work_done_.wait(lock, [this] { return done_; });
    }
    busy_ = false;
    return true;
  }

 private:
  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      work_ready_.wait(lock, [this] { return job_ != nullptr; });
      auto* job = job_;
      void* arg = arg_;
      job_ = nullptr;
      lock.unlock();
      job(arg);
      lock.lock();
      done_ = true;
      work_done_.notify_one();
    }
  }

  std::mutex mu_;
  std::condition_variable work_ready_;
  std::condition_variable work_done_;
  void (*job_)(void*) = nullptr;  // guarded by mu_: the job not yet picked up
  void* arg_ = nullptr;           // guarded by mu_
  bool busy_ = false;             // guarded by mu_: started and not yet waited for
  bool done_ = false;             // guarded by mu_: the job has returned
};

// Triggers the armed call's token when Python's signal handler reports a SIGINT on the
// wakeup fd, a pipe that a thread of its own reads.
class SigintWatcher {
 public:
  SigintWatcher() {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) throw std::runtime_error("pipe2 failed");
    read_fd_ = fds[0];
    write_fd_ = fds[1];
    std::thread([this] { Loop(); }).detach();
  }
  SigintWatcher(const SigintWatcher&) = delete;
  SigintWatcher& operator=(const SigintWatcher&) = delete;

  // Main thread, GIL held. Makes the pipe Python's wakeup fd and `token` the one a SIGINT
  // triggers. False, with nothing changed, if Ctrl-C would not raise KeyboardInterrupt at
  // once (the program has a SIGINT handler of its own) or the wakeup fd is the program's.
  bool Arm(proglog_cancel* token) {
    try {
      if (!Signal().attr("getsignal")(Signal().attr("SIGINT")).is(DefaultIntHandler())) {
        return false;
      }
      Drain();  // a stale SIGINT has had its KeyboardInterrupt already
      const int previous = Signal().attr("set_wakeup_fd")(write_fd_).cast<int>();
      if (previous != -1) {
        Signal().attr("set_wakeup_fd")(previous);
        return false;
      }
    } catch (py::error_already_set&) {
      return false;  // the signal module refused: the helper thread still works
    }
    std::lock_guard<std::mutex> lock(mu_);
    armed_ = token;
    fired_ = false;
    return true;
  }

  // Main thread, GIL held. Undoes Arm; true if a SIGINT triggered the token.
  bool Disarm() {
    Signal().attr("set_wakeup_fd")(-1);
    std::lock_guard<std::mutex> lock(mu_);
    armed_ = nullptr;
    return fired_;
  }

 private:
  // Python's signal module, and its handler that raises KeyboardInterrupt. Never released:
  // they live as long as the interpreter.
  static py::module_& Signal() {
    static auto* signal = new py::module_(py::module_::import("signal"));
    return *signal;
  }
  static py::object& DefaultIntHandler() {
    static auto* handler = new py::object(Signal().attr("default_int_handler"));
    return *handler;
  }

  void Drain() const {
    unsigned char bytes[64];
    while (read(read_fd_, bytes, sizeof bytes) > 0) {
    }
  }

  void Loop() {
    for (;;) {
      pollfd readable{read_fd_, POLLIN, 0};
      if (poll(&readable, 1, -1) < 0) continue;  // EINTR
      unsigned char signals[64];
      const ssize_t count = read(read_fd_, signals, sizeof signals);
      for (ssize_t i = 0; i < count; ++i) {
        if (signals[i] != SIGINT) continue;
        std::lock_guard<std::mutex> lock(mu_);
        if (armed_ != nullptr) {
          proglog_cancel_trigger(armed_);
          fired_ = true;
        }
      }
    }
  }

  int read_fd_ = -1;
  int write_fd_ = -1;
  std::mutex mu_;
  proglog_cancel* armed_ = nullptr;  // guarded by mu_: the running call's token
  bool fired_ = false;               // guarded by mu_: a SIGINT triggered armed_
};

// What the main thread uses to make its calls cancellable, per process. Never destroyed:
// the threads live as long as the process. A forked child makes its own (the parent's
// threads did not come along, and a mutex may have been held at the fork).
class MainThreadCalls {
 public:
  // Main thread only (the GIL held).
  static MainThreadCalls& Get() {
    static MainThreadCalls* calls = nullptr;
    static pid_t owner = 0;
    if (calls == nullptr || owner != getpid()) {
      calls = new MainThreadCalls();
      owner = getpid();
    }
    return *calls;
  }

  // The token for the next call, reused until a call is cancelled with it (a triggered
  // token stays triggered).
  proglog_cancel* Token() {
    if (token_ == nullptr) {
      proglog_error* err = nullptr;
      const int rc = proglog_cancel_new(&token_, &err);
      Check(rc, err);
    }
    return token_;
  }

  // Frees the triggered token once no call uses it any more.
  void RetireToken() {
    proglog_cancel_free(token_);
    token_ = nullptr;
  }

  SigintWatcher& Watcher() {
    if (!watcher_) watcher_ = std::make_unique<SigintWatcher>();
    return *watcher_;
  }

  CallThread& Helper() {
    if (!helper_) helper_ = std::make_unique<CallThread>();
    return *helper_;
  }

 private:
  proglog_cancel* token_ = nullptr;
  std::unique_ptr<SigintWatcher> watcher_;
  std::unique_ptr<CallThread> helper_;
};

// The thread Python runs signal handlers on (threading.main_thread()), as
// PyThread_get_thread_ident names it; set at import.
unsigned long& MainThreadId() {
  static unsigned long id = 0;
  return id;
}

// Runs `call` on the main thread while the watcher turns a SIGINT into cancellation. False
// if the watcher cannot be used (see SigintWatcher::Arm); `*rc` is the call's result and
// `*interrupted` whether the call was cancelled for a KeyboardInterrupt now pending.
template <typename Job>
bool RunWatched(MainThreadCalls& calls, Job& job, int* rc, bool* interrupted) {
  SigintWatcher& watcher = calls.Watcher();
  if (!watcher.Arm(job.options->cancel)) return false;
  {
    py::gil_scoped_release release;
    *rc = (*job.call)(job.options);
  }
  *interrupted = false;
  if (watcher.Disarm()) {
    calls.RetireToken();
    *interrupted = PyErr_CheckSignals() != 0;  // runs the handler: KeyboardInterrupt
  }
  return true;
}

// Runs `call` on the helper thread while this thread runs signal handlers; `*interrupted`
// says whether one raised (its exception is pending) and the call was cancelled.
template <typename Job>
int RunOnHelper(MainThreadCalls& calls, Job& job, bool* interrupted) {
  auto run = [](void* arg) {
    auto* j = static_cast<Job*>(arg);
    j->rc = (*j->call)(j->options);
  };
  CallThread& helper = calls.Helper();
  *interrupted = false;
  if (!helper.TryStart(run, &job)) {
    job.options->cancel = nullptr;  // the token belongs to the call already running
    py::gil_scoped_release release;
    run(&job);
    return job.rc;
  }
  PyObject *type = nullptr, *value = nullptr, *traceback = nullptr;
  PyThreadState* state = PyEval_SaveThread();
  while (!helper.WaitDone(kSignalCheckInterval)) {
    PyEval_RestoreThread(state);
    const bool raised = PyErr_CheckSignals() != 0;
    if (raised) PyErr_Fetch(&type, &value, &traceback);
    state = PyEval_SaveThread();
    if (raised) {
      proglog_cancel_trigger(job.options->cancel);
      helper.WaitDone(std::nullopt);
      calls.RetireToken();
      break;
    }
  }
  PyEval_RestoreThread(state);
  if (type != nullptr) {
    PyErr_Restore(type, value, traceback);
    *interrupted = true;
  }
  return job.rc;
}

// Runs `call(&options)` with the GIL released and returns its result; `timeout_ms` is the
// call's deadline as proglog_call_options takes it. A call given its caller's `cancel` token
// runs where it is made and is cancelled through that token alone. Otherwise, if Ctrl-C (or
// another signal handler that raised) interrupted the call on the main thread, the call was
// cancelled, and once it has returned `discard` frees what it produced and the handler's
// exception is raised.
// The caller's W3C trace context (proglog_call_options version 2); None: none.
struct TraceHeaders {
  std::optional<std::string> traceparent;
  std::optional<std::string> tracestate;
};

template <typename Call, typename Discard>
int RunBlocking(int64_t timeout_ms, proglog_cancel* cancel, const TraceHeaders& trace, Call&& call,
                Discard&& discard) {
  proglog_call_options options = PROGLOG_CALL_OPTIONS_INIT;
  options.timeout_ms = timeout_ms;
  options.traceparent = trace.traceparent ? trace.traceparent->c_str() : nullptr;
  options.tracestate = trace.tracestate ? trace.tracestate->c_str() : nullptr;
  if (cancel != nullptr || PyThread_get_thread_ident() != MainThreadId()) {
    options.cancel = cancel;
    py::gil_scoped_release release;
    return call(&options);
  }
  MainThreadCalls& calls = MainThreadCalls::Get();
  options.cancel = calls.Token();
  struct Job {
    std::remove_reference_t<Call>* call;
    proglog_call_options* options;
    int rc;
  } job{&call, &options, PROGLOG_EINTERNAL};
  int rc = PROGLOG_EINTERNAL;
  bool interrupted = false;
  if (!RunWatched(calls, job, &rc, &interrupted)) rc = RunOnHelper(calls, job, &interrupted);
  if (!interrupted) return rc;
  discard();
  throw py::error_already_set();
}

// The C codes by name without the "PROGLOG_" prefix ({"EINVAL": -1, ...}), as the loaded
// library names them, so a code added to the library shows up without a change here.
py::dict CodesByName() {
  constexpr int kLowestCode = -128;
  constexpr std::string_view kPrefix = "PROGLOG_";
  py::dict codes;
  for (int code = 0; code >= kLowestCode; --code) {
    std::string_view name = proglog_code_name(code);
    if (name.substr(0, kPrefix.size()) != kPrefix) continue;  // "unknown"
    name.remove_prefix(kPrefix.size());
    codes[py::str(std::string(name))] = code;
  }
  return codes;
}

std::pair<py::bytes, uint64_t> ToTuple(proglog_record* record) {
  size_t len = 0;
  const void* value = proglog_record_value(record, &len);
  std::pair<py::bytes, uint64_t> out{py::bytes(static_cast<const char*>(value), len),
                                     proglog_record_offset(record)};
  proglog_record_free(record);
  return out;
}

std::string_view View(const py::bytes& value) {
  char* data = nullptr;
  Py_ssize_t len = 0;
  PyBytes_AsStringAndSize(value.ptr(), &data, &len);
  return std::string_view(data, static_cast<size_t>(len));
}

const char* OrNull(const std::optional<std::string>& text) {
  return text ? text->c_str() : nullptr;
}

// The cluster fields of proglog_node_options (version 2), as the Python layer
// passes them; each maps to the C field of the same name.
struct ClusterArgs {
  bool cluster = false;
  std::optional<std::string> bind_addr;
  std::optional<std::string> advertise_host;
  std::vector<std::string> start_join_addrs;
  bool bootstrap = false;
  std::optional<std::string> gossip_key;
  int64_t raft_heartbeat_interval_ms = 0;
  int64_t raft_election_timeout_ms = 0;
  std::optional<std::string> peer_tls_cert_file;
  std::optional<std::string> peer_tls_key_file;
  std::optional<std::string> peer_tls_ca_file;
};

// The client TLS and ACL files of proglog_node_options (version 3).
struct SecurityArgs {
  std::optional<std::string> server_tls_cert_file;
  std::optional<std::string> server_tls_key_file;
  std::optional<std::string> server_tls_ca_file;
  std::optional<std::string> acl_model_file;
  std::optional<std::string> acl_policy_file;
};

class NodeHandle {
 public:
  NodeHandle(const std::string& data_dir, const std::optional<std::string>& name,
             const std::optional<std::string>& host, int port, uint64_t max_store_bytes,
             uint64_t max_index_bytes, uint64_t max_record_bytes,
             const std::optional<std::string>& durability, const ClusterArgs& cluster,
             const SecurityArgs& security) {
    proglog_node_options opts = PROGLOG_NODE_OPTIONS_INIT;
    opts.data_dir = data_dir.c_str();
    opts.node_name = OrNull(name);
    opts.rpc_host = OrNull(host);
    opts.rpc_port = port;
    opts.max_store_bytes = max_store_bytes;
    opts.max_index_bytes = max_index_bytes;
    opts.max_record_bytes = max_record_bytes;
    opts.durability = OrNull(durability);
    std::vector<const char*> join;
    for (const auto& address : cluster.start_join_addrs) join.push_back(address.c_str());
    opts.cluster = cluster.cluster ? 1 : 0;
    opts.bind_addr = OrNull(cluster.bind_addr);
    opts.advertise_host = OrNull(cluster.advertise_host);
    opts.start_join_addrs = join.data();
    opts.start_join_addr_count = join.size();
    opts.bootstrap = cluster.bootstrap ? 1 : 0;
    opts.gossip_key = OrNull(cluster.gossip_key);
    opts.raft_heartbeat_interval_ms = cluster.raft_heartbeat_interval_ms;
    opts.raft_election_timeout_ms = cluster.raft_election_timeout_ms;
    opts.peer_tls_cert_file = OrNull(cluster.peer_tls_cert_file);
    opts.peer_tls_key_file = OrNull(cluster.peer_tls_key_file);
    opts.peer_tls_ca_file = OrNull(cluster.peer_tls_ca_file);
    opts.server_tls_cert_file = OrNull(security.server_tls_cert_file);
    opts.server_tls_key_file = OrNull(security.server_tls_key_file);
    opts.server_tls_ca_file = OrNull(security.server_tls_ca_file);
    opts.acl_model_file = OrNull(security.acl_model_file);
    opts.acl_policy_file = OrNull(security.acl_policy_file);
    proglog_error* err = nullptr;
    int rc;
    {
      py::gil_scoped_release release;
      rc = proglog_node_open(&node_, &opts, &err);
    }
    Check(rc, err);
  }
  NodeHandle(const NodeHandle&) = delete;
  NodeHandle& operator=(const NodeHandle&) = delete;
  ~NodeHandle() {
    py::gil_scoped_release release;
    proglog_node_free(node_);
  }

  uint64_t Append(const py::bytes& value) {
    std::string_view view = View(value);
    uint64_t offset = 0;
    proglog_error* err = nullptr;
    int rc;
    {
      py::gil_scoped_release release;
      rc = proglog_node_append(&offset, node_, view.data(), view.size(), &err);
    }
    Check(rc, err);
    return offset;
  }

  std::pair<py::bytes, uint64_t> Read(uint64_t offset) {
    proglog_record* record = nullptr;
    proglog_error* err = nullptr;
    int rc;
    {
      py::gil_scoped_release release;
      rc = proglog_node_read(&record, node_, offset, &err);
    }
    Check(rc, err);
    return ToTuple(record);
  }

  std::string Address() const { return proglog_node_address(node_); }
  std::string GossipAddress() const { return proglog_node_gossip_address(node_); }

  void ReloadAcl() {
    proglog_error* err = nullptr;
    int rc;
    {
      py::gil_scoped_release release;
      rc = proglog_node_reload_acl(node_, &err);
    }
    Check(rc, err);
  }

  void Close() {
    proglog_error* err = nullptr;
    int rc;
    {
      py::gil_scoped_release release;
      rc = proglog_node_close(node_, &err);
    }
    Check(rc, err);
  }

 private:
  proglog_node* node_ = nullptr;
};

class SubscriptionHandle {
 public:
  explicit SubscriptionHandle(proglog_subscription* sub) : sub_(sub) {}
  SubscriptionHandle(const SubscriptionHandle&) = delete;
  SubscriptionHandle& operator=(const SubscriptionHandle&) = delete;
  ~SubscriptionHandle() { proglog_subscription_free(sub_); }

  // None when nothing arrived within the timeout, so the caller can check for
  // signals (Ctrl-C) between waits.
  std::optional<std::pair<py::bytes, uint64_t>> Next(int64_t timeout_ms) {
    proglog_record* record = nullptr;
    proglog_error* err = nullptr;
    int rc;
    {
      py::gil_scoped_release release;
      waiting_.fetch_add(1);
      rc = proglog_subscription_next(&record, sub_, timeout_ms, &err);
      waiting_.fetch_sub(1);
    }
    if (rc == PROGLOG_ETIMEOUT) {
      proglog_error_free(err);
      return std::nullopt;
    }
    Check(rc, err);
    return ToTuple(record);
  }

  void Cancel() { proglog_subscription_cancel(sub_); }

  // Whether a Next is under way in C, for tests that check a cancelled wait has ended.
  bool Waiting() const { return waiting_.load() > 0; }

 private:
  proglog_subscription* sub_;
  std::atomic<int> waiting_{0};
};

// One proglog_cancel token, for a caller that cancels its calls itself: it passes the token
// to a call and triggers it from any thread (proglog.aio, when the awaiting task is
// cancelled). A token stays triggered. Python keeps the token alive while a call uses it (the
// call holds a reference to its argument).
class CancelToken {
 public:
  CancelToken() {
    proglog_error* err = nullptr;
    const int rc = proglog_cancel_new(&token_, &err);
    Check(rc, err);
  }
  CancelToken(const CancelToken&) = delete;
  CancelToken& operator=(const CancelToken&) = delete;
  ~CancelToken() { proglog_cancel_free(token_); }

  void Trigger() { proglog_cancel_trigger(token_); }
  proglog_cancel* Get() const { return token_; }

 private:
  proglog_cancel* token_ = nullptr;
};

proglog_cancel* TokenOf(const CancelToken* cancel) {
  return cancel != nullptr ? cancel->Get() : nullptr;
}

// The discovery and retry fields of proglog_client_options (version 2); 0 keeps the library's
// default, as in C.
struct RetryArgs {
  int64_t refresh_interval_ms = 0;
  int max_attempts = 0;
  int64_t initial_backoff_ms = 0;
  int64_t max_backoff_ms = 0;
};

class ClientHandle {
 public:
  ClientHandle(const std::vector<std::string>& addresses, int64_t timeout_ms, int balance_policy,
               bool tls, const std::optional<std::string>& ca_file,
               const std::optional<std::string>& cert_file,
               const std::optional<std::string>& key_file,
               const std::optional<std::string>& server_name, const RetryArgs& retry) {
    std::vector<const char*> pointers;
    pointers.reserve(addresses.size());
    for (const auto& address : addresses) pointers.push_back(address.c_str());
    proglog_client_options opts = PROGLOG_CLIENT_OPTIONS_INIT;
    opts.addresses = pointers.data();
    opts.address_count = pointers.size();
    opts.timeout_ms = timeout_ms;
    opts.balance_policy = balance_policy;
    opts.tls = tls ? 1 : 0;
    opts.tls_ca_file = OrNull(ca_file);
    opts.tls_cert_file = OrNull(cert_file);
    opts.tls_key_file = OrNull(key_file);
    opts.tls_server_name = OrNull(server_name);
    opts.refresh_interval_ms = retry.refresh_interval_ms;
    opts.max_attempts = retry.max_attempts;
    opts.initial_backoff_ms = retry.initial_backoff_ms;
    opts.max_backoff_ms = retry.max_backoff_ms;
    proglog_error* err = nullptr;
    // The call must set err before Check reads it (argument order is unspecified).
    const int rc = proglog_client_open(&client_, &opts, &err);
    Check(rc, err);
  }
  ClientHandle(const ClientHandle&) = delete;
  ClientHandle& operator=(const ClientHandle&) = delete;
  ~ClientHandle() {
    py::gil_scoped_release release;
    proglog_client_free(client_);
  }

  // Each call's `timeout_ms` is proglog_call_options.timeout_ms: 0 the client's, <0 none.
  uint64_t Produce(const py::bytes& value, int64_t timeout_ms, const CancelToken* cancel,
                   const TraceHeaders& trace) {
    std::string_view view = View(value);
    uint64_t offset = 0;
    proglog_error* err = nullptr;
    const int rc = Run(
        timeout_ms, cancel, trace,
        [&](const proglog_call_options* call) {
          return proglog_client_produce_ex(&offset, client_, view.data(), view.size(), call, &err);
        },
        [&] { proglog_error_free(err); });
    Check(rc, err);
    return offset;
  }

  // `values` holds bytes objects only (the Python layer checks); they stay
  // referenced by the list while the GIL is released.
  std::vector<uint64_t> ProduceMany(const py::list& values, int64_t timeout_ms,
                                    const CancelToken* cancel, const TraceHeaders& trace) {
    const size_t count = values.size();
    std::vector<const void*> data(count);
    std::vector<size_t> lens(count);
    for (size_t i = 0; i < count; ++i) {
      std::string_view view = View(values[i].cast<py::bytes>());
      data[i] = view.data();
      lens[i] = view.size();
    }
    std::vector<uint64_t> offsets(count);
    proglog_error* err = nullptr;
    const int rc = Run(
        timeout_ms, cancel, trace,
        [&](const proglog_call_options* call) {
          return proglog_client_produce_batch_ex(offsets.data(), client_, data.data(), lens.data(),
                                                 count, call, &err);
        },
        [&] { proglog_error_free(err); });
    if (rc != PROGLOG_OK) Raise(rc, err, &offsets);
    return offsets;
  }

  std::pair<py::bytes, uint64_t> Consume(uint64_t offset, int64_t timeout_ms,
                                         const CancelToken* cancel, const TraceHeaders& trace) {
    proglog_record* record = nullptr;
    proglog_error* err = nullptr;
    const int rc = Run(
        timeout_ms, cancel, trace,
        [&](const proglog_call_options* call) {
          return proglog_client_consume_ex(&record, client_, offset, call, &err);
        },
        [&] {
          proglog_record_free(record);
          proglog_error_free(err);
        });
    Check(rc, err);
    return ToTuple(record);
  }

  std::unique_ptr<SubscriptionHandle> Subscribe(uint64_t offset) {
    proglog_subscription* sub = nullptr;
    proglog_error* err = nullptr;
    // The call must set err before Check reads it (argument order is unspecified).
    const int rc = proglog_client_subscribe(&sub, client_, offset, &err);
    Check(rc, err);
    return std::make_unique<SubscriptionHandle>(sub);
  }

  std::vector<std::tuple<std::string, std::string, bool>> Servers(int64_t timeout_ms,
                                                                  const CancelToken* cancel,
                                                                  const TraceHeaders& trace) {
    proglog_server_list* list = nullptr;
    proglog_error* err = nullptr;
    const int rc = Run(
        timeout_ms, cancel, trace,
        [&](const proglog_call_options* call) {
          return proglog_client_servers_ex(&list, client_, call, &err);
        },
        [&] {
          proglog_server_list_free(list);
          proglog_error_free(err);
        });
    Check(rc, err);
    std::vector<std::tuple<std::string, std::string, bool>> out;
    for (size_t i = 0; i < proglog_server_list_count(list); ++i) {
      out.emplace_back(proglog_server_list_id(list, i), proglog_server_list_rpc_addr(list, i),
                       proglog_server_list_is_leader(list, i) != 0);
    }
    proglog_server_list_free(list);
    return out;
  }

  void Close() { proglog_client_close(client_); }

  // How many calls are under way in C, for tests that check a cancelled call has ended.
  int CallsRunning() const { return calls_running_.load(); }

 private:
  // RunBlocking, counting the call while it runs.
  template <typename Call, typename Discard>
  int Run(int64_t timeout_ms, const CancelToken* cancel, const TraceHeaders& trace, Call&& call,
          Discard&& discard) {
    return RunBlocking(
        timeout_ms, TokenOf(cancel), trace,
        [&](const proglog_call_options* options) {
          calls_running_.fetch_add(1);
          const int rc = call(options);
          calls_running_.fetch_sub(1);
          return rc;
        },
        std::forward<Discard>(discard));
  }

  proglog_client* client_ = nullptr;
  std::atomic<int> calls_running_{0};
};

}  // namespace

PYBIND11_MODULE(_proglog, m) {
  m.doc() = "Low-level bindings of the proglog C API; use the proglog package instead.";
  m.def("version", [] { return std::string(proglog_version()); });
  MainThreadId() =
      py::module_::import("threading").attr("main_thread")().attr("ident").cast<unsigned long>();
  m.def(
      "code_name", [](int code) { return std::string(proglog_code_name(code)); }, py::arg("code"));
  for (auto [name, code] : CodesByName()) m.attr(name) = code;
  m.attr("BALANCE_DEFAULT") = static_cast<int>(PROGLOG_BALANCE_DEFAULT);
  m.attr("BALANCE_FOLLOWER_READS") = static_cast<int>(PROGLOG_BALANCE_FOLLOWER_READS);
  m.attr("BALANCE_LEADER") = static_cast<int>(PROGLOG_BALANCE_LEADER);
  m.attr("BALANCE_PINNED") = static_cast<int>(PROGLOG_BALANCE_PINNED);
  m.def(
      "set_error_classes", [](py::dict classes) { ErrorClasses() = std::move(classes); },
      "Registers the exception class raised for each C code (0: the fallback).");

  py::class_<ClusterArgs>(m, "ClusterArgs")
      .def(py::init<>())
      .def_readwrite("cluster", &ClusterArgs::cluster)
      .def_readwrite("bind_addr", &ClusterArgs::bind_addr)
      .def_readwrite("advertise_host", &ClusterArgs::advertise_host)
      .def_readwrite("start_join_addrs", &ClusterArgs::start_join_addrs)
      .def_readwrite("bootstrap", &ClusterArgs::bootstrap)
      .def_readwrite("gossip_key", &ClusterArgs::gossip_key)
      .def_readwrite("raft_heartbeat_interval_ms", &ClusterArgs::raft_heartbeat_interval_ms)
      .def_readwrite("raft_election_timeout_ms", &ClusterArgs::raft_election_timeout_ms)
      .def_readwrite("peer_tls_cert_file", &ClusterArgs::peer_tls_cert_file)
      .def_readwrite("peer_tls_key_file", &ClusterArgs::peer_tls_key_file)
      .def_readwrite("peer_tls_ca_file", &ClusterArgs::peer_tls_ca_file);

  py::class_<SecurityArgs>(m, "SecurityArgs")
      .def(py::init<>())
      .def_readwrite("server_tls_cert_file", &SecurityArgs::server_tls_cert_file)
      .def_readwrite("server_tls_key_file", &SecurityArgs::server_tls_key_file)
      .def_readwrite("server_tls_ca_file", &SecurityArgs::server_tls_ca_file)
      .def_readwrite("acl_model_file", &SecurityArgs::acl_model_file)
      .def_readwrite("acl_policy_file", &SecurityArgs::acl_policy_file);

  py::class_<NodeHandle>(m, "NodeHandle")
      .def(py::init<const std::string&, const std::optional<std::string>&,
                    const std::optional<std::string>&, int, uint64_t, uint64_t, uint64_t,
                    const std::optional<std::string>&, const ClusterArgs&, const SecurityArgs&>(),
           py::arg("data_dir"), py::arg("name"), py::arg("host"), py::arg("port"),
           py::arg("max_store_bytes"), py::arg("max_index_bytes"), py::arg("max_record_bytes"),
           py::arg("durability"), py::arg("cluster"), py::arg("security"))
      .def("reload_acl", &NodeHandle::ReloadAcl)
      .def("append", &NodeHandle::Append, py::arg("value"))
      .def("read", &NodeHandle::Read, py::arg("offset"))
      .def("address", &NodeHandle::Address)
      .def("gossip_address", &NodeHandle::GossipAddress)
      .def("close", &NodeHandle::Close);

  py::class_<SubscriptionHandle>(m, "SubscriptionHandle")
      .def("next", &SubscriptionHandle::Next, py::arg("timeout_ms"))
      .def("cancel", &SubscriptionHandle::Cancel)
      .def("waiting", &SubscriptionHandle::Waiting);

  py::class_<CancelToken>(m, "CancelToken").def(py::init<>()).def("trigger", &CancelToken::Trigger);

  py::class_<RetryArgs>(m, "RetryArgs")
      .def(py::init<>())
      .def_readwrite("refresh_interval_ms", &RetryArgs::refresh_interval_ms)
      .def_readwrite("max_attempts", &RetryArgs::max_attempts)
      .def_readwrite("initial_backoff_ms", &RetryArgs::initial_backoff_ms)
      .def_readwrite("max_backoff_ms", &RetryArgs::max_backoff_ms);

  py::class_<TraceHeaders>(m, "TraceHeaders")
      .def(py::init<>())
      .def(py::init(
               [](std::optional<std::string> traceparent, std::optional<std::string> tracestate) {
                 return TraceHeaders{std::move(traceparent), std::move(tracestate)};
               }),
           py::arg("traceparent"), py::arg("tracestate") = py::none())
      .def_readwrite("traceparent", &TraceHeaders::traceparent)
      .def_readwrite("tracestate", &TraceHeaders::tracestate);

  py::class_<ClientHandle>(m, "ClientHandle")
      .def(py::init<const std::vector<std::string>&, int64_t, int, bool,
                    const std::optional<std::string>&, const std::optional<std::string>&,
                    const std::optional<std::string>&, const std::optional<std::string>&,
                    const RetryArgs&>(),
           py::arg("addresses"), py::arg("timeout_ms"), py::arg("balance_policy"), py::arg("tls"),
           py::arg("ca_file"), py::arg("cert_file"), py::arg("key_file"), py::arg("server_name"),
           py::arg("retry"))
      .def("produce", &ClientHandle::Produce, py::arg("value"), py::arg("timeout_ms"),
           py::arg("cancel") = py::none(), py::arg("trace") = TraceHeaders{})
      .def("produce_many", &ClientHandle::ProduceMany, py::arg("values"), py::arg("timeout_ms"),
           py::arg("cancel") = py::none(), py::arg("trace") = TraceHeaders{})
      .def("consume", &ClientHandle::Consume, py::arg("offset"), py::arg("timeout_ms"),
           py::arg("cancel") = py::none(), py::arg("trace") = TraceHeaders{})
      .def("subscribe", &ClientHandle::Subscribe, py::arg("offset"))
      .def("servers", &ClientHandle::Servers, py::arg("timeout_ms"), py::arg("cancel") = py::none(),
           py::arg("trace") = TraceHeaders{})
      .def("calls_running", &ClientHandle::CallsRunning)
      .def("close", &ClientHandle::Close);
}
