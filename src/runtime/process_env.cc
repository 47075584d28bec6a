#include "runtime/detail/process_env.h"

#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <string_view>

#include "base/sys.h"

namespace berth::runtime {

namespace {

// passwd fields may be empty (the comment often is): sys::split would drop them.
std::vector<std::string_view> fields_of(std::string_view line) {
  std::vector<std::string_view> fields;
  for (size_t start = 0;;) {
    size_t colon = line.find(':', start);
    fields.push_back(line.substr(start, colon - start));
    if (colon == std::string_view::npos) return fields;
    start = colon + 1;
  }
}

// The sixth field of the passwd line whose third field is `uid`; empty if there is none.
std::string home_in_passwd(const std::string& passwd, uint32_t uid) {
  for (const auto& line : sys::split(passwd, '\n')) {
    auto fields = fields_of(line);
    if (fields.size() < 7) continue;
    uint32_t id = 0;
    const auto& f = fields[2];
    auto [end, ec] = std::from_chars(f.data(), f.data() + f.size(), id);
    if (ec == std::errc() && end == f.data() + f.size() && id == uid) return std::string(fields[5]);
  }
  return {};
}

}  // namespace

std::vector<std::string> with_home(std::vector<std::string> env, uint32_t uid,
                                   const std::string& passwd_path) {
  for (const auto& e : env)
    if (e.rfind("HOME=", 0) == 0) return env;
  std::string home;
  if (auto passwd = sys::read_file(passwd_path)) home = home_in_passwd(*passwd, uid);
  env.push_back("HOME=" + (home.empty() ? std::string("/") : home));
  return env;
}

void give_stdio_to(uint32_t uid, uint32_t gid) {
  for (int fd = 0; fd < 3; ++fd) {
    struct stat st;
    if (::fstat(fd, &st) < 0 || S_ISCHR(st.st_mode)) continue;
    if (st.st_uid == uid && st.st_gid == gid) continue;
    (void)::fchown(fd, uid, gid);
  }
}

}  // namespace berth::runtime
