#include "base/error.h"

#include <cstring>

namespace berth {

std::string full_disk_hint(std::string_view path) {
  std::string where = path.empty() ? "a file system berth writes to is full" : fmt::format("the file system holding '{}' is full", path);
  return where + ": free some space there (`df` shows it; `berth system prune`, `berth rm` and `berth volume rm` "
                 "give space back) and try again";
}

const char* error_kind_name(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::invalid_argument: return "invalid argument";
    case ErrorKind::not_found: return "not found";
    case ErrorKind::already_exists: return "already exists";
    case ErrorKind::failed_precondition: return "failed precondition";
    case ErrorKind::permission_denied: return "permission denied";
    case ErrorKind::unauthenticated: return "unauthenticated";
    case ErrorKind::unsupported: return "unsupported";
    case ErrorKind::corrupt: return "corrupt";
    case ErrorKind::unavailable: return "unavailable";
    case ErrorKind::io: return "i/o error";
    case ErrorKind::internal: return "internal error";
  }
  return "error";
}

namespace {
ErrorKind kind_for_errno(int e) {
  switch (e) {
    case ENOENT: return ErrorKind::not_found;
    case EEXIST: return ErrorKind::already_exists;
    case EACCES:
    case EPERM: return ErrorKind::permission_denied;
    case EINVAL: return ErrorKind::invalid_argument;
    case ENOSYS:
    case EOPNOTSUPP: return ErrorKind::unsupported;
    case EBUSY:
    case EAGAIN: return ErrorKind::unavailable;
    default: return ErrorKind::io;
  }
}
}  // namespace

Error Error::with_errno(int sys_errno, std::string message) {
  std::string text = ::strerror(sys_errno);
  if (!text.empty()) text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
  message += ": ";
  message += text;
  return Error(kind_for_errno(sys_errno), std::move(message), sys_errno);
}

Error& Error::context(std::string_view outer) & {
  std::string joined(outer);
  joined += ": ";
  joined += message_;
  message_ = std::move(joined);
  return *this;
}

}  // namespace berth
