// base/error.h — Error and Result<T>: every fallible call in berth returns one; no exceptions.
#pragma once

#include <fmt/core.h>

#include <cerrno>
#include <string>
#include <utility>
#include <variant>

namespace berth {

// Kinds map once to CLI exit codes and HTTP statuses (see docs/architecture.md).
enum class ErrorKind {
  invalid_argument,
  not_found,
  already_exists,
  failed_precondition,
  permission_denied,
  unauthenticated,
  unsupported,
  corrupt,
  unavailable,
  io,
  internal,
};

const char* error_kind_name(ErrorKind kind);

// What to do when a write failed for lack of space (ENOSPC, SQLITE_FULL); `path` names the file
// system when known ("" when not).
std::string full_disk_hint(std::string_view path);

// An error: kind, errno (0 if none), message chain ("outer: inner: strerror") and optional hint.
class Error {
 public:
  Error(ErrorKind kind, std::string message, int sys_errno = 0)
      : kind_(kind), message_(std::move(message)), errno_(sys_errno) {}

  // Builds "<message>: <strerror(errno)>" from the errno in force at the call.
  template <typename... Args>
  static Error from_errno(fmt::format_string<Args...> format, Args&&... args) {
    int saved = errno;
    return with_errno(saved, fmt::format(format, std::forward<Args>(args)...));
  }
  static Error with_errno(int sys_errno, std::string message);

  template <typename... Args>
  static Error make(ErrorKind kind, fmt::format_string<Args...> format, Args&&... args) {
    return Error(kind, fmt::format(format, std::forward<Args>(args)...));
  }

  // Prepends an outer layer of context: "outer: <existing message>".
  Error& context(std::string_view outer) &;
  Error&& context(std::string_view outer) && { return std::move(context(outer)); }
  Error&& with_hint(std::string hint) && {
    hint_ = std::move(hint);
    return std::move(*this);
  }

  ErrorKind kind() const { return kind_; }
  int sys_errno() const { return errno_; }
  const std::string& message() const { return message_; }
  const std::string& hint() const { return hint_; }

 private:
  ErrorKind kind_;
  std::string message_;
  std::string hint_;
  int errno_ = 0;
};

// Holds a T or an Error, shaped like std::expected.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  Error& error() & { return std::get<1>(v_); }
  const Error& error() const& { return std::get<1>(v_); }
  Error&& error() && { return std::get<1>(std::move(v_)); }

  Result&& context(std::string_view outer) && {
    if (!ok()) error().context(outer);
    return std::move(*this);
  }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), failed_(true) {}  // NOLINT

  bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }
  void value() const {}
  Error& error() & { return error_; }
  const Error& error() const& { return error_; }
  Error&& error() && { return std::move(error_); }

  Result&& context(std::string_view outer) && {
    if (failed_) error_.context(outer);
    return std::move(*this);
  }

 private:
  Error error_{ErrorKind::internal, ""};
  bool failed_ = false;
};

}  // namespace berth

#define BERTH_CONCAT_INNER(a, b) a##b
#define BERTH_CONCAT(a, b) BERTH_CONCAT_INNER(a, b)

// BERTH_TRY(auto x, f()) declares x from f()'s value, or returns f()'s error.
#define BERTH_TRY(decl, expr)                                                 \
  auto BERTH_CONCAT(berth_try_, __LINE__) = (expr);                           \
  if (!BERTH_CONCAT(berth_try_, __LINE__).ok())                               \
    return std::move(BERTH_CONCAT(berth_try_, __LINE__)).error();             \
  decl = std::move(BERTH_CONCAT(berth_try_, __LINE__)).value()

// BERTH_TRY_VOID(f()) returns f()'s error if it failed.
#define BERTH_TRY_VOID(expr)                                                  \
  do {                                                                        \
    auto berth_try_void_ = (expr);                                            \
    if (!berth_try_void_.ok()) return std::move(berth_try_void_).error();     \
  } while (0)

// BERTH_TRY_CTX(auto x, f(), "context") as BERTH_TRY, adding a context layer on failure.
#define BERTH_TRY_CTX(decl, expr, ctx)                                        \
  auto BERTH_CONCAT(berth_try_, __LINE__) = (expr);                           \
  if (!BERTH_CONCAT(berth_try_, __LINE__).ok())                               \
    return std::move(BERTH_CONCAT(berth_try_, __LINE__).error().context(ctx)); \
  decl = std::move(BERTH_CONCAT(berth_try_, __LINE__)).value()
