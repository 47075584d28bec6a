// Build verbs: build, builder prune, builder du.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

#include "base/sys.h"
#include "http/client.h"
#include "build/build.h"
#include "cli/berth/command.h"
#include "base/process.h"
#include "engine/container_config.h"

namespace berth::cli {
namespace {

using build::StepEvent;

std::string seconds(int64_t ns) { return fmt::format("{:.1f}s", static_cast<double>(ns) / 1e9); }

// BuildKit's plain progress: "#N [stage 2/4] RUN …", its output lines with their time, then
// "#N DONE 0.3s" or "#N CACHED".
class PlainProgress {
 public:
  void on(const StepEvent& e) {
    switch (e.kind) {
      case StepEvent::Kind::started: line(fmt::format("#{} {}", e.vertex, e.name)); break;
      case StepEvent::Kind::output: line(fmt::format("#{} {:.3f} {}", e.vertex, elapsed(e.vertex), e.text)); break;
      case StepEvent::Kind::cached: line(fmt::format("#{} CACHED", e.vertex)); break;
      case StepEvent::Kind::done: line(fmt::format("#{} DONE {}", e.vertex, seconds(e.elapsed_ns))); break;
      case StepEvent::Kind::failed: line(fmt::format("#{} ERROR: {}", e.vertex, e.text)); break;
      case StepEvent::Kind::note: line(fmt::format("#0 {}", e.name)); break;
    }
    if (e.kind == StepEvent::Kind::started) starts_[e.vertex] = std::chrono::steady_clock::now();
  }
  static void line(const std::string& text) { std::fprintf(stderr, "%s\n", text.c_str()); }

 private:
  double elapsed(int vertex) {
    auto it = starts_.find(vertex);
    if (it == starts_.end()) return 0;
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - it->second).count();
  }
  std::map<int, std::chrono::steady_clock::time_point> starts_;
};

// On a terminal: finished steps scroll by; running ones stay at the bottom with their elapsed
// time and the tail of their output, redrawn ten times a second.
class LiveProgress {
 public:
  LiveProgress() : ticker_([this] { tick(); }) {}
  ~LiveProgress() {
    {
      std::lock_guard l(mutex_);
      stop_ = true;
    }
    ticker_.join();
    std::lock_guard l(mutex_);
    clear();
  }
  void on(const StepEvent& e) {
    std::lock_guard l(mutex_);
    clear();
    auto now = std::chrono::steady_clock::now();
    switch (e.kind) {
      case StepEvent::Kind::started: running_[e.vertex] = {e.name, now, {}}; break;
      case StepEvent::Kind::output: {
        auto& tail = running_[e.vertex].tail;
        tail.push_back(e.text);
        if (tail.size() > 4) tail.erase(tail.begin());
        break;
      }
      case StepEvent::Kind::cached:
        finished(e.vertex, fmt::format("\033[34m => CACHED {}\033[0m", running_[e.vertex].name));
        break;
      case StepEvent::Kind::done:
        finished(e.vertex, fmt::format(" => {:<70} {:>6}", running_[e.vertex].name, seconds(e.elapsed_ns)));
        break;
      case StepEvent::Kind::failed:
        finished(e.vertex, fmt::format("\033[31m => ERROR {}\033[0m", running_[e.vertex].name));
        break;
      case StepEvent::Kind::note: std::fprintf(stderr, " => %s\n", e.name.c_str()); break;
    }
    draw();
  }

 private:
  struct Step {
    std::string name;
    std::chrono::steady_clock::time_point start;
    std::vector<std::string> tail;
  };
  void finished(int vertex, const std::string& text) {
    std::fprintf(stderr, "%s\n", text.c_str());
    running_.erase(vertex);
  }
  void clear() {
    for (int i = 0; i < drawn_; ++i) std::fputs("\033[1A\033[2K", stderr);
    drawn_ = 0;
  }
  void draw() {
    auto now = std::chrono::steady_clock::now();
    for (const auto& [vertex, step] : running_) {
      double secs = std::chrono::duration<double>(now - step.start).count();
      std::fprintf(stderr, " => %-70.70s %5.1fs\n", step.name.c_str(), secs);
      ++drawn_;
      for (const auto& t : step.tail) {
        std::fprintf(stderr, "\033[2m => > %.100s\033[0m\n", t.c_str());
        ++drawn_;
      }
    }
    std::fflush(stderr);
  }
  void tick() {
    for (;;) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      std::lock_guard l(mutex_);
      if (stop_) return;
      clear();
      draw();
    }
  }
  std::mutex mutex_;
  std::map<int, Step> running_;
  int drawn_ = 0;
  bool stop_ = false;
  std::thread ticker_;
};

// ADD's download: the body of a 2xx answer (redirects followed, the proxy environment used)
// into `path`; any other status is an error naming it.
Result<void> fetch_url(const std::string& url, const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Error::from_errno("create '{}'", path);
  http::Client client;
  http::Request request;
  request.url = url;
  request.want_stream = [](const http::Response& r) { return r.status >= 200 && r.status < 300; };
  request.sink = [fd](std::string_view data) -> Result<void> {
    while (!data.empty()) {
      ssize_t n = ::write(fd, data.data(), data.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Error::from_errno("write the download");
      data.remove_prefix(static_cast<size_t>(n));
    }
    return {};
  };
  auto response = client.send(request);
  ::close(fd);
  if (!response) return std::move(response).error();
  if (response->status < 200 || response->status >= 300)
    return Error::make(ErrorKind::unavailable, "GET {}: HTTP {}", url, response->status);
  return {};
}

Result<std::string> read_all_stdin() {
  std::string data;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(0, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error::from_errno("read stdin");
    if (n == 0) return data;
    data.append(buf, static_cast<size_t>(n));
  }
}

bool looks_like_tar(std::string_view data) {
  if (data.size() >= 262 && data.substr(257, 5) == "ustar") return true;
  // gzip, bzip2, xz, zstd magic: a compressed tar.
  return data.starts_with("\x1f\x8b") || data.starts_with("BZh") || data.starts_with("\xfd" "7zXZ") ||
         data.starts_with("\x28\xb5\x2f\xfd");
}

Result<int> cmd_build(const Globals& g, const ParsedArgs& a) {
  if (a.positionals.size() != 1)
    return Error(ErrorKind::invalid_argument, "give one build context: a directory, or - for a tar or Dockerfile on stdin")
        .with_hint("berth build -t app:1 .");
  build::BuildOptions o;
  std::string context = a.positionals[0];
  std::string file = a.value("file");
  std::string stdin_data;
  bool stdin_used = false;
  std::string scratch;  // a context unpacked from stdin
  BERTH_TRY(auto e, open_engine(g));
  if (context == "-") {
    BERTH_TRY(stdin_data, read_all_stdin());
    stdin_used = true;
    if (looks_like_tar(stdin_data)) {
      // Named for this process, so that a build killed half-way has it removed by the next one.
      scratch = fmt::format("{}/build/context-{}-{}", e.layout.root, ::getpid(), sys::random_hex(6));
      BERTH_TRY_VOID(sys::mkdir_all(scratch + "/context", 0700));
      std::string tar = scratch + "/context.tar";
      BERTH_TRY_VOID(sys::atomic_write(tar, stdin_data, 0644, sys::Durability::process_crash));
      proc::RunOptions x;
      x.path = "/bin/tar";
      x.args = {"tar", "-xf", tar, "-C", scratch + "/context", "--no-same-owner"};
      auto rc = proc::run(x);
      ::unlink(tar.c_str());
      if (!rc || *rc != 0) {
        (void)sys::remove_all(scratch);
        return Error(ErrorKind::invalid_argument, "the build context on stdin is not a readable tar archive");
      }
      o.context_dir = scratch + "/context";
    } else {
      o.dockerfile_text = stdin_data;
      o.dockerfile_name = "-";
    }
  } else {
    struct stat st;
    if (::stat(context.c_str(), &st) < 0) return Error::from_errno("build context '{}'", context);
    if (!S_ISDIR(st.st_mode))
      return Error::make(ErrorKind::invalid_argument, "build context '{}' is not a directory", context)
          .with_hint("give a directory (or - with a tar on stdin)");
    o.context_dir = context;
  }
  std::vector<std::string> secret_files;  // --secret env=VAR, written for the RUNs to mount
  auto cleanup = [&] {
    if (!scratch.empty()) (void)sys::remove_all(scratch);
    scratch.clear();
    for (const auto& f : secret_files) ::unlink(f.c_str());
    secret_files.clear();
  };
  // Every return below (errors included) removes them.
  struct Guard {
    std::function<void()> done;
    ~Guard() { done(); }
  } guard{cleanup};
  if (o.dockerfile_text.empty()) {
    if (file == "-") {
      if (stdin_used) return Error(ErrorKind::invalid_argument, "stdin cannot hold both the context and the Dockerfile");
      BERTH_TRY(o.dockerfile_text, read_all_stdin());
      o.dockerfile_name = "-";
    } else {
      std::string path = file;
      if (path.empty()) {
        for (const char* name : {"Dockerfile", "Containerfile", "dockerfile", "containerfile"})
          if (sys::exists(o.context_dir + "/" + name)) {
            path = o.context_dir + "/" + name;
            break;
          }
        if (path.empty()) {
          cleanup();
          return Error::make(ErrorKind::not_found, "no Dockerfile or Containerfile in '{}'", o.context_dir)
              .with_hint("name one with -f FILE");
        }
      }
      auto text = sys::read_file(path);
      if (!text) {
        cleanup();
        return std::move(text).error().context("read the Dockerfile");
      }
      o.dockerfile_text = *text;
      o.dockerfile_name = path.substr(path.find_last_of('/') + 1);
    }
  }
  o.tags = a.values_of("tag");
  for (const auto& arg : a.values_of("build-arg")) {
    auto eq = arg.find('=');
    if (eq == 0) return Error::make(ErrorKind::invalid_argument, "--build-arg '{}': want NAME=value", arg);
    if (eq == std::string::npos) {
      // A bare NAME takes the caller's environment value, as docker does.
      if (const char* v = std::getenv(arg.c_str())) o.build_args[arg] = v;
    } else {
      o.build_args[arg.substr(0, eq)] = arg.substr(eq + 1);
    }
  }
  BERTH_TRY(o.labels, key_values(a.values_of("label"), "--label"));
  o.target = a.value("target");
  o.no_cache = a.flag("no-cache");
  o.flat = a.flag("flat");
  o.network = a.value("network", "default");
  if (o.network != "default" && o.network != "none" && o.network != "host")
    return Error::make(ErrorKind::invalid_argument, "--network '{}': builds run with default, none or host", o.network);
  std::string platform = a.value("platform");
  if (!platform.empty() && platform != "linux/amd64" && platform != "linux")
    return Error::make(ErrorKind::unsupported, "--platform '{}': this host builds linux/amd64 only", platform);
  for (const auto& s : a.values_of("secret")) {
    std::string id, src;
    for (const auto& part : sys::split(s, ',')) {
      if (part.starts_with("id=")) id = part.substr(3);
      else if (part.starts_with("src=") || part.starts_with("source=")) src = part.substr(part.find('=') + 1);
      else if (part.starts_with("env=")) {
        std::string name = part.substr(4);
        const char* v = std::getenv(name.c_str());
        if (!v) return Error::make(ErrorKind::invalid_argument, "--secret '{}': ${} is not set", s, name);
        src = scratch.empty() ? "" : src;
        std::string path = e.layout.run_root + "/build-secret-" + sys::random_hex(6);
        // Readable by root only, and removed after the build (it stayed in RUN_ROOT, 0644).
        BERTH_TRY_VOID(sys::atomic_write(path, v, 0600, sys::Durability::process_crash));
        secret_files.push_back(path);
        src = path;
      }
    }
    if (id.empty() || src.empty()) return Error::make(ErrorKind::invalid_argument, "--secret '{}': want id=ID,src=FILE", s);
    // Relative to the working directory, as docker's: the runtime mounts it from elsewhere.
    if (!src.starts_with("/")) {
      char* cwd = ::getcwd(nullptr, 0);
      if (cwd) src = std::string(cwd) + "/" + src;
      ::free(cwd);
    }
    if (!sys::exists(src)) return Error::make(ErrorKind::not_found, "--secret '{}': no file '{}'", s, src);
    o.secrets[id] = src;
  }
  if (a.values.count("memory")) {
    BERTH_TRY(o.memory, engine::parse_size(a.value("memory")));
  }
  std::string progress = a.value("progress", "auto");
  bool quiet = a.flag("quiet") || progress == "quiet";
  if (progress != "auto" && progress != "plain" && progress != "tty" && progress != "quiet")
    return Error::make(ErrorKind::invalid_argument, "--progress '{}': want auto, plain, tty or quiet", progress);
  std::unique_ptr<PlainProgress> plain;
  std::unique_ptr<LiveProgress> live;
  if (!quiet) {
    if (progress == "tty" || (progress == "auto" && ::isatty(2))) {
      live = std::make_unique<LiveProgress>();
      o.progress = [&](const StepEvent& ev) { live->on(ev); };
    } else {
      plain = std::make_unique<PlainProgress>();
      o.progress = [&](const StepEvent& ev) { plain->on(ev); };
    }
  }
  o.pull = [&](const std::string& name) { return pull_for_build(e, name); };
  // ADD URL: nothing set this, so every ADD of a URL failed ("downloading is not available").
  o.fetch = [](const std::string& url, const std::string& path) { return fetch_url(url, path); };
  auto started = std::chrono::steady_clock::now();
  // Ctrl-C or a SIGTERM stops the build's containers and lets it clean up before exiting.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&stop_signals, sig);
  ::pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::atomic<bool> finished{false};
  std::atomic<int> received{0};
  std::thread watcher([&] {
    struct timespec tick = {0, 100'000'000};
    while (!finished) {
      int sig = ::sigtimedwait(&stop_signals, nullptr, &tick);
      if (sig > 0) {
        received = sig;
        build::cancel_builds();
      }
    }
  });
  auto result = build::build_image(e, o);
  finished = true;
  watcher.join();
  live.reset();
  cleanup();
  if (received) {
    std::fprintf(stderr, "berth: build interrupted: nothing was left behind\n");
    return 128 + received.load();
  }
  if (!result) return std::move(result).error().context("build");
  for (const auto& w : result->warnings) std::fprintf(stderr, "WARNING: %s\n", w.c_str());
  if (!a.value("iidfile").empty()) BERTH_TRY_VOID(sys::atomic_write(a.value("iidfile"), result->image_id));
  if (quiet) {
    print(result->image_id + "\n");
  } else {
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::fprintf(stderr, "writing image %s done (%d steps, %d cached, %.2fs)\n", result->image_id.c_str(),
                 result->steps, result->cached, secs);
    for (const auto& t : o.tags) std::fprintf(stderr, "naming to %s done\n", t.c_str());
    print(result->image_id + "\n");
  }
  return 0;
}

Result<int> cmd_builder_prune(const Globals& g, const ParsedArgs& a) {
  BERTH_TRY(auto e, open_engine(g));
  int64_t older = 0;
  for (const auto& f : a.values_of("filter")) {
    if (!f.starts_with("until="))
      return Error::make(ErrorKind::invalid_argument, "--filter '{}': only until=DURATION is supported", f);
    BERTH_TRY(auto ms, parse_duration_ms(f.substr(6)));
    older = ms * 1'000'000;
  }
  BERTH_TRY(auto freed, build::prune_cache(e, older));
  print(fmt::format("Deleted build cache objects: {}\nTotal reclaimed space: {}\n", freed.entries, human_size(freed.bytes)));
  return 0;
}

Result<int> cmd_builder_du(const Globals& g, const ParsedArgs&) {
  BERTH_TRY(auto e, open_engine(g));
  BERTH_TRY(auto usage, build::cache_usage(e));
  print(render_table({"CACHE ENTRIES", "SIZE"}, {{std::to_string(usage.entries), human_size(usage.bytes)}}));
  return 0;
}

}  // namespace

std::vector<Command> build_commands() {
  std::vector<OptionSpec> build_options = {
      {"t,tag", true, "name the image (several allowed)"},
      {"f,file", true, "the Dockerfile (default: CONTEXT/Dockerfile or Containerfile; - for stdin)"},
      {"build-arg", true, "NAME=value for an ARG (several allowed)"},
      {"target", true, "build up to this stage"},
      {"no-cache", false, "do not use the build cache"},
      {"label", true, "KEY=value label on the image"},
      {"network", true, "RUN's network: default (the host's), none or host"},
      {"progress", true, "auto, plain, tty or quiet"},
      {"q,quiet", false, "print only the image ID"},
      {"iidfile", true, "write the image ID to this file"},
      {"platform", true, "linux/amd64 (the only one this host builds)"},
      {"flat", false, "one layer holding the final root file system"},
      {"secret", true, "id=ID,src=FILE (or env=VAR) for RUN --mount=type=secret"},
      {"m,memory", true, "memory limit of each RUN"},
      {"pull", false, "accepted for docker compatibility; missing base images are always pulled"},
  };
  std::vector<OptionSpec> prune_options = {{"f,force", false, "do not ask (berth never asks)"},
                                           {"a,all", false, "every entry (the default)"},
                                           {"filter", true, "until=DURATION: entries unused for that long"}};
  return {
      {"build", "[OPTIONS] CONTEXT", "Build an image from a Dockerfile", build_options, SIZE_MAX, cmd_build},
      {"image build", "[OPTIONS] CONTEXT", "", build_options, SIZE_MAX, cmd_build},
      {"builder prune", "[OPTIONS]", "Remove the build cache", prune_options, SIZE_MAX, cmd_builder_prune},
      {"builder du", "", "Show the build cache's size", {}, SIZE_MAX, cmd_builder_du},
  };
}

}  // namespace berth::cli
