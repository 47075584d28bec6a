// api/archive_routes.cc — docker cp and docker export: GET|HEAD|PUT /containers/{id}/archive
// and GET /containers/{id}/export. The engine resolves the path inside the container's root
// (with_container_path, mounting it when stopped); tar streams straight to or from the socket.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/routes.h"
#include "base/clock.h"
#include "base/process.h"
#include "base/sys.h"
#include "http/client.h"

namespace berth::api::detail {
namespace {

// Go's os.FileMode bits for a stat mode, as docker's path stat carries them.
uint32_t go_file_mode(mode_t mode) {
  uint32_t m = mode & 0777;
  if (S_ISDIR(mode)) m |= 1u << 31;
  if (S_ISLNK(mode)) m |= 1u << 27;
  if (S_ISFIFO(mode)) m |= 1u << 25;
  if (S_ISSOCK(mode)) m |= 1u << 24;
  if (S_ISBLK(mode)) m |= 1u << 26;
  if (S_ISCHR(mode)) m |= (1u << 26) | (1u << 21);
  if (mode & S_ISUID) m |= 1u << 23;
  if (mode & S_ISGID) m |= 1u << 22;
  if (mode & S_ISVTX) m |= 1u << 20;
  return m;
}

std::string base_name(const std::string& path) {
  std::string p = path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  auto slash = p.rfind('/');
  return slash == std::string::npos ? p : p.substr(slash + 1);
}

// The X-Docker-Container-Path-Stat value of a host path: base64 of {name, size, mode, mtime,
// linkTarget}.
Result<std::string> path_stat(const std::string& host_path, const std::string& inside) {
  struct ::stat st;
  if (::lstat(host_path.c_str(), &st) < 0) return Error::from_errno("stat '{}'", inside);
  std::string target;
  if (S_ISLNK(st.st_mode)) {
    char buf[4096];
    ssize_t n = ::readlink(host_path.c_str(), buf, sizeof buf);
    if (n > 0) target.assign(buf, static_cast<size_t>(n));
  }
  json j = {{"name", base_name(inside)},
            {"size", st.st_size},
            {"mode", go_file_mode(st.st_mode)},
            {"mtime", clock::rfc3339(st.st_mtim.tv_sec * 1'000'000'000LL + st.st_mtim.tv_nsec)},
            {"linkTarget", target}};
  return http::base64_encode(j.dump());
}

Error not_found_in(const std::string& path, const std::string& container) {
  return Error::make(ErrorKind::not_found, "Could not find the file {} in container {}", path,
                     container);
}

// The container was found before: a not_found is about the path (secure_join's or ours).
Error path_error(const Error& e, const std::string& path, const std::string& container) {
  return e.kind() == ErrorKind::not_found ? not_found_in(path, container) : e;
}

// tar ARGS with stdout (or stdin) on `fd`; its exit status.
Result<int> run_tar(std::vector<std::string> args, int in_fd, int out_fd) {
  proc::RunOptions o;
  o.path = "/bin/tar";
  args.insert(args.begin(), "tar");
  o.args = std::move(args);
  o.stdin_fd = in_fd;
  o.stdout_fd = out_fd;
  return proc::run(o);
}

}  // namespace

http::Dispatch DockerApi::archive(const std::string& m, const std::string& id,
                                  const ServerRequest& r) {
  http::Dispatch d;
  std::string path = r.query_value("path").value_or("");
  if (path.empty()) {
    d.response = error_response(400, "path is required: give ?path=/in/the/container");
    return d;
  }
  {
    auto e = open();
    if (!e) {
      d.response = error_response(e.error());
      return d;
    }
    auto c = engine::find_container(*e, id);
    if (!c) {
      d.response = error_response(no_such(c.error(), "container", id));
      return d;
    }
  }
  if (m == "HEAD" || m == "GET") {
    bool head = m == "HEAD";
    d.response = deferred([this, id, path, head](int fd) {
      auto e = open();
      if (!e) return error_response(e.error());
      ServerResponse answer;
      answer.status = 0;  // GET: sent by the work below
      auto done =
          engine::with_container_path(*e, id, path, [&](const std::string& host) -> Result<void> {
            auto stat = path_stat(host, path);
            if (!stat) return not_found_in(path, id);
            if (head) {
              answer = empty_response(200);
              answer.set("X-Docker-Container-Path-Stat", *stat);
              answer.set("Content-Type", "application/x-tar");
              return {};
            }
            if (!sys::write_all(fd, response_head(200, {{"Content-Type", "application/x-tar"},
                                                        {"X-Docker-Container-Path-Stat", *stat},
                                                        {"Connection", "close"}})))
              return {};
            std::string parent = host.substr(0, host.rfind('/'));
            if (parent.empty()) parent = "/";
            std::string name = host.substr(host.rfind('/') + 1);
            // The root itself: its contents, under the name docker gives it.
            std::vector<std::string> args =
                name.empty() ? std::vector<std::string>{"-c", "-C", host, "."}
                             : std::vector<std::string>{"-c", "-C", parent, "--", name};
            (void)run_tar(args, -1, fd);
            return {};
          });
      if (!done) return error_response(path_error(done.error(), path, id));
      return answer;
    });
    return d;
  }
  // PUT: the tar is unpacked into `path`, a directory that must exist.
  std::string scratch =
      fmt::format("{}/tmp/archive-{}-{}", options_.layout.run_root, ::getpid(), sys::random_hex(6));
  if (auto made = sys::mkdir_all(options_.layout.run_root + "/tmp", 0700); !made) {
    d.response = error_response(made.error());
    return d;
  }
  auto file = sys::open(scratch, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (!file) {
    d.response = error_response(file.error());
    return d;
  }
  bool no_overwrite_dir = query_flag(r, "noOverwriteDirNonDir");
  auto tar = std::make_shared<UniqueFd>(std::move(*file));
  d.sink = file_sink(
      UniqueFd(::fcntl(tar->get(), F_DUPFD_CLOEXEC, 0)), scratch,
      [this, id, path, no_overwrite_dir, tar](int) {
        int tar_fd = tar->get();
        ::lseek(tar_fd, 0, SEEK_SET);
        auto e = open();
        if (!e) return error_response(e.error());
        ServerResponse answer = empty_response(200);
        auto done =
            engine::with_container_path(*e, id, path, [&](const std::string& host) -> Result<void> {
              struct ::stat st;
              if (::stat(host.c_str(), &st) < 0) return not_found_in(path, id);
              if (!S_ISDIR(st.st_mode))
                return Error::make(ErrorKind::invalid_argument,
                                   "extraction point is not a directory: {}", path);
              std::vector<std::string> args{"-x", "-C", host, "--no-overwrite-dir"};
              if (!no_overwrite_dir) args.pop_back();
              BERTH_TRY(int code, run_tar(args, tar_fd, -1));
              if (code != 0)
                return Error::make(ErrorKind::invalid_argument,
                                   "unpack the archive into {}: tar exited with {}", path, code);
              return {};
            });
        if (!done) return error_response(path_error(done.error(), path, id));
        return answer;
      });
  return d;
}

ServerResponse DockerApi::export_container(const std::string& id) {
  auto e = open();
  if (!e) return error_response(e.error());
  auto c = engine::find_container(*e, id);
  if (!c) return error_response(no_such(c.error(), "container", id));
  return deferred([this, id = c->id](int fd) {
    auto e = open();
    if (!e) return error_response(e.error());
    ServerResponse answer;
    answer.status = 0;
    auto done =
        engine::with_container_path(*e, id, "/", [&](const std::string& root) -> Result<void> {
          if (!sys::write_all(fd, response_head(200, {{"Content-Type", "application/x-tar"},
                                                      {"Connection", "close"}})))
            return {};
          (void)run_tar({"-c", "-C", root, "--numeric-owner", "."}, -1, fd);
          return {};
        });
    if (!done) return error_response(done.error());
    return answer;
  });
}

}  // namespace berth::api::detail
