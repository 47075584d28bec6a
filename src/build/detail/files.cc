#include "build/detail/files.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <deque>

#include <fmt/format.h>

#include "base/sys.h"
#include "base/unique_fd.h"
#include "image/digest.h"
#include "image/layers.h"

namespace berth::build::detail {
namespace {

// Path components of a '/'-separated path, "." and empty ones dropped.
std::deque<std::string> components(std::string_view path) {
  std::deque<std::string> out;
  for (auto& c : sys::split(path, '/'))
    if (!c.empty() && c != ".") out.push_back(c);
  return out;
}

// Cleans a source as docker does: relative to the context root, ".." may not leave it.
Result<std::string> clean_source(const std::string& source, const SourceTree& tree) {
  std::vector<std::string> out;
  for (auto& c : components(source)) {
    if (c == "..") {
      if (out.empty())
        return Error::make(ErrorKind::invalid_argument, "source '{}' is outside the {}", source, tree.label)
            .with_hint("COPY and ADD can only read files inside the build context");
      out.pop_back();
    } else {
      out.push_back(c);
    }
  }
  std::string joined;
  for (auto& c : out) joined += (joined.empty() ? "" : "/") + c;
  return joined;
}

std::vector<std::string> sorted_names(const std::string& dir) {
  auto names = sys::list_dir(dir);
  std::sort(names.begin(), names.end());
  return names;
}

bool skip(const SourceTree& tree, const std::string& rel, bool is_dir) {
  if (!tree.ignore || rel.empty() || !tree.ignore->excluded(rel)) return false;
  return !(is_dir && tree.ignore->may_reinclude_below(rel));
}

std::string child_of(const std::string& rel, const std::string& name) { return rel.empty() ? name : rel + "/" + name; }

Result<void> copy_data(int from, int to, const std::string& what) {
  for (;;) {
    ssize_t n = ::copy_file_range(from, nullptr, to, nullptr, 1 << 30, 0);
    if (n == 0) return {};
    if (n > 0) continue;
    if (errno == EINTR) continue;
    if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
      return Error::from_errno("copy '{}'", what);
    break;
  }
  // Across file systems (the context into an overlay): still in the kernel, without a copy
  // through user space.
  for (;;) {
    ssize_t n = ::sendfile(to, from, nullptr, 1 << 30);
    if (n == 0) return {};
    if (n > 0) continue;
    if (errno == EINTR) continue;
    if (errno != EINVAL && errno != ENOSYS) return Error::from_errno("copy '{}'", what);
    break;
  }
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(from, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error::from_errno("read '{}'", what);
    if (n == 0) return {};
    BERTH_TRY_VOID(sys::write_all(to, std::string_view(buf, static_cast<size_t>(n))));
  }
}

struct Copier {
  const SourceTree& tree;
  const CopyOptions& options;

  uid_t uid(const struct stat& st) const { return options.uid ? *options.uid : options.keep_owner ? st.st_uid : 0; }
  gid_t gid(const struct stat& st) const { return options.gid ? *options.gid : options.keep_owner ? st.st_gid : 0; }
  mode_t mode(const struct stat& st) const { return options.mode ? *options.mode : (st.st_mode & 07777); }

  Result<void> finish(const std::string& to, const struct stat& st, bool symlink) {
    if (::lchown(to.c_str(), uid(st), gid(st)) < 0) return Error::from_errno("chown '{}'", to);
    if (!symlink && ::chmod(to.c_str(), mode(st)) < 0) return Error::from_errno("chmod '{}'", to);
    struct timespec times[2] = {st.st_atim, st.st_mtim};
    if (::utimensat(AT_FDCWD, to.c_str(), times, AT_SYMLINK_NOFOLLOW) < 0) return Error::from_errno("set times of '{}'", to);
    return {};
  }

  // One entry `from` (already lstat'ed) to the path `to`, which is safe to write (its parents are
  // inside the root and not symlinks).
  Result<void> copy(const std::string& from, const std::string& rel, const struct stat& st, const std::string& to) {
    struct stat existing;
    bool exists = ::lstat(to.c_str(), &existing) == 0;
    if (S_ISDIR(st.st_mode)) {
      if (exists && !S_ISDIR(existing.st_mode)) {
        if (::unlink(to.c_str()) < 0) return Error::from_errno("replace '{}'", to);
        exists = false;
      }
      if (!exists && ::mkdir(to.c_str(), 0700) < 0) return Error::from_errno("create directory '{}'", to);
      for (const auto& name : sorted_names(from)) {
        std::string child_rel = child_of(rel, name);
        std::string child = from + "/" + name;
        struct stat cst;
        if (::lstat(child.c_str(), &cst) < 0) return Error::from_errno("stat '{}'", child);
        if (skip(tree, child_rel, S_ISDIR(cst.st_mode))) continue;
        BERTH_TRY_VOID(copy(child, child_rel, cst, to + "/" + name));
      }
      return finish(to, st, false);
    }
    if (exists) {
      if (S_ISDIR(existing.st_mode))
        return Error::make(ErrorKind::invalid_argument, "cannot copy '{}' onto the directory '{}'", rel, to);
      if (::unlink(to.c_str()) < 0) return Error::from_errno("replace '{}'", to);
    }
    if (S_ISLNK(st.st_mode)) {
      std::string target(static_cast<size_t>(st.st_size) + 1, '\0');
      ssize_t n = ::readlink(from.c_str(), target.data(), target.size());
      if (n < 0) return Error::from_errno("read link '{}'", from);
      target.resize(static_cast<size_t>(n));
      if (::symlink(target.c_str(), to.c_str()) < 0) return Error::from_errno("create symlink '{}'", to);
      return finish(to, st, true);
    }
    if (S_ISREG(st.st_mode)) {
      BERTH_TRY(auto in, sys::open(from, O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
      BERTH_TRY(auto out, sys::open(to, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
      BERTH_TRY_VOID(copy_data(in.get(), out.get(), from));
      return finish(to, st, false);
    }
    if (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
      if (::mknod(to.c_str(), st.st_mode, st.st_rdev) < 0) return Error::from_errno("create '{}'", to);
      return finish(to, st, false);
    }
    return {};  // sockets are not copied
  }
};

Result<void> hash_entry(image::Sha256& h, const SourceTree& tree, const std::string& path, const std::string& rel,
                        bool follow) {
  struct stat st;
  if ((follow ? ::stat(path.c_str(), &st) : ::lstat(path.c_str(), &st)) < 0) return Error::from_errno("stat '{}'", path);
  std::string head = fmt::format("{}:{}|{:o}|{}|{}|", rel.size(), rel, st.st_mode, tree.ignore ? 0 : st.st_uid,
                                 tree.ignore ? 0 : st.st_gid);
  h.update(head);
  if (S_ISDIR(st.st_mode)) {
    for (const auto& name : sorted_names(path)) {
      std::string child_rel = child_of(rel, name);
      struct stat cst;
      if (::lstat((path + "/" + name).c_str(), &cst) < 0) continue;
      if (skip(tree, child_rel, S_ISDIR(cst.st_mode))) continue;
      BERTH_TRY_VOID(hash_entry(h, tree, path + "/" + name, child_rel, false));
    }
  } else if (S_ISLNK(st.st_mode)) {
    char target[4096];
    ssize_t n = ::readlink(path.c_str(), target, sizeof target);
    if (n > 0) h.update(std::string_view(target, static_cast<size_t>(n)));
  } else if (S_ISREG(st.st_mode)) {
    h.update(fmt::format("{}|", st.st_size));
    if (tree.hashes)
      if (auto known = tree.hashes->get(st)) {
        h.update(*known);
        return {};
      }
    image::Sha256 content;
    BERTH_TRY(auto fd, sys::open(path, O_RDONLY | O_CLOEXEC));
    std::string buf(1 << 17, '\0');
    for (;;) {
      ssize_t n = ::read(fd.get(), buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Error::from_errno("read '{}'", path);
      if (n == 0) break;
      content.update(std::string_view(buf.data(), static_cast<size_t>(n)));
    }
    std::string digest = content.finish().str();
    if (tree.hashes) tree.hashes->put(st, digest);
    h.update(digest);
  } else {
    h.update(fmt::format("{}", st.st_rdev));
  }
  return {};
}

void walk_matches(const SourceTree& tree, const std::string& pattern, const std::string& rel,
                  std::vector<std::string>& out, std::optional<Error>& error) {
  std::string dir = rel.empty() ? tree.root : tree.root + "/" + rel;
  for (const auto& name : sorted_names(dir)) {
    std::string child = child_of(rel, name);
    struct stat st;
    if (::lstat((tree.root + "/" + child).c_str(), &st) < 0) continue;
    if (skip(tree, child, S_ISDIR(st.st_mode))) continue;
    auto m = match_path(pattern, child);
    if (!m) {
      error = m.error();
      return;
    }
    if (*m) {
      if (!tree.ignore || !tree.ignore->excluded(child)) out.push_back(child);
      continue;
    }
    // Only descend where the pattern has more elements than this path.
    if (S_ISDIR(st.st_mode) &&
        std::count(pattern.begin(), pattern.end(), '/') > std::count(child.begin(), child.end(), '/'))
      walk_matches(tree, pattern, child, out, error);
  }
}

Result<std::string> resolved_parent_and(const std::string& root, const std::string& path, bool& created,
                                        const CopyOptions& options) {
  std::string parent = path.substr(0, path.find_last_of('/'));
  BERTH_TRY(created, make_directories(root, parent.empty() ? "/" : parent, options));
  BERTH_TRY(auto dir, resolve_in_root(root, parent.empty() ? "/" : parent));
  return dir + "/" + path.substr(path.find_last_of('/') + 1);
}

}  // namespace

std::string FileHashes::key(const struct stat& st) {
  return fmt::format("{}:{}:{}:{}.{}:{}.{}", st.st_dev, st.st_ino, st.st_size, st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
                     st.st_ctim.tv_sec, st.st_ctim.tv_nsec);
}

void FileHashes::load(const std::string& path) {
  auto text = sys::read_file(path);
  if (!text) return;
  std::lock_guard l(mutex_);
  for (const auto& line : sys::split(*text, '\n')) {
    auto space = line.find(' ');
    if (space != std::string::npos) entries_[line.substr(0, space)] = {line.substr(space + 1), false};
  }
}

Result<void> FileHashes::save(const std::string& path) const {
  constexpr size_t kMaxEntries = 200'000;
  std::string text;
  size_t n = 0;
  std::lock_guard l(mutex_);
  for (bool used : {true, false})
    for (const auto& [k, v] : entries_)
      if (v.second == used && n++ < kMaxEntries) text += k + " " + v.first + "\n";
  return sys::atomic_write(path, text, 0600, sys::Durability::process_crash);
}

std::optional<std::string> FileHashes::get(const struct stat& st) {
  std::lock_guard l(mutex_);
  auto it = entries_.find(key(st));
  if (it == entries_.end()) return std::nullopt;
  it->second.second = true;
  return it->second.first;
}

void FileHashes::put(const struct stat& st, const std::string& hash) {
  std::lock_guard l(mutex_);
  entries_[key(st)] = {hash, true};
}

Result<std::string> resolve_in_root(const std::string& root, const std::string& path) {
  std::deque<std::string> rest = components(path);
  std::vector<std::string> done;
  int hops = 0;
  auto current = [&] {
    std::string p = root;
    for (auto& c : done) p += "/" + c;
    return p;
  };
  while (!rest.empty()) {
    std::string c = rest.front();
    rest.pop_front();
    if (c == "..") {
      if (!done.empty()) done.pop_back();
      continue;
    }
    std::string candidate = current() + "/" + c;
    struct stat st;
    if (::lstat(candidate.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) {
      if (++hops > 40) return Error::make(ErrorKind::invalid_argument, "too many symlinks in '{}'", path);
      char target[4096];
      ssize_t n = ::readlink(candidate.c_str(), target, sizeof target - 1);
      if (n < 0) return Error::from_errno("read link '{}'", candidate);
      std::string t(target, static_cast<size_t>(n));
      if (!t.empty() && t[0] == '/') done.clear();
      auto more = components(t);
      rest.insert(rest.begin(), more.begin(), more.end());
      continue;
    }
    done.push_back(c);
  }
  return current();
}

Result<std::vector<std::string>> resolve_sources(const SourceTree& tree, const std::string& source) {
  BERTH_TRY(auto clean, clean_source(source, tree));
  std::vector<std::string> out;
  if (has_glob(clean)) {
    std::optional<Error> error;
    walk_matches(tree, clean, "", out, error);
    if (error) return std::move(*error).context(fmt::format("source '{}'", source));
    if (out.empty())
      return Error::make(ErrorKind::not_found, "no source files were specified: '{}' matches nothing in the {}", source,
                         tree.label);
    return out;
  }
  std::string path = clean.empty() ? tree.root : tree.root + "/" + clean;
  struct stat st;
  bool excluded = !clean.empty() && tree.ignore && tree.ignore->excluded(clean);
  if (excluded || ::lstat(path.c_str(), &st) < 0)
    return Error::make(ErrorKind::not_found, "'{}' not found in the {}{}", source, tree.label,
                       excluded ? " (excluded by .dockerignore)" : "");
  out.push_back(clean);
  return out;
}

Result<std::string> hash_sources(const SourceTree& tree, const std::vector<std::string>& sources) {
  image::Sha256 h;
  for (const auto& rel : sources) {
    h.update(fmt::format("source:{}:{}|", rel.size(), rel));
    BERTH_TRY_VOID(hash_entry(h, tree, rel.empty() ? tree.root : tree.root + "/" + rel, rel, true));
  }
  return h.finish().str();
}

Result<bool> make_directories(const std::string& root, const std::string& path, const CopyOptions& options) {
  bool created = false;
  std::string walked;
  for (const auto& c : components(path)) {
    walked += "/" + c;
    BERTH_TRY(auto real, resolve_in_root(root, walked));
    struct stat st;
    if (::stat(real.c_str(), &st) == 0) {
      if (!S_ISDIR(st.st_mode))
        return Error::make(ErrorKind::invalid_argument, "'{}' exists and is not a directory", walked);
      continue;
    }
    if (::mkdir(real.c_str(), 0755) < 0 && errno != EEXIST) return Error::from_errno("create directory '{}'", walked);
    if (::chown(real.c_str(), options.uid.value_or(0), options.gid.value_or(0)) < 0)
      return Error::from_errno("chown '{}'", walked);
    created = true;
  }
  return created;
}

Result<void> copy_sources(const SourceTree& tree, const std::vector<std::string>& sources, const std::string& root,
                          const std::string& dest, bool dest_is_dir, const CopyOptions& options) {
  Copier copier{tree, options};
  for (const auto& rel : sources) {
    std::string from = rel.empty() ? tree.root : tree.root + "/" + rel;
    struct stat st;
    // The source itself is followed when it is a symlink (inside its tree), as docker does.
    if (::lstat(from.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) {
      BERTH_TRY(from, resolve_in_root(tree.root, rel));
    }
    if (::stat(from.c_str(), &st) < 0) return Error::from_errno("stat '{}'", rel);
    if (S_ISDIR(st.st_mode)) {
      BERTH_TRY(auto before, resolve_in_root(root, dest));
      struct stat dst;
      bool dest_new = ::lstat(before.c_str(), &dst) < 0;
      BERTH_TRY_VOID(make_directories(root, dest, options));
      BERTH_TRY(auto to, resolve_in_root(root, dest));
      // A destination directory the copy makes takes the source directory's mode, as
      // BuildKit's copier does (`COPY tmp /tmp` kept 1777 there, not 0755).
      if (dest_new && !options.mode && ::chmod(to.c_str(), st.st_mode & 07777) < 0)
        return Error::from_errno("chmod '{}'", dest);
      bool fresh = ::stat(to.c_str(), &dst) == 0 && dst.st_nlink == 2 && sys::list_dir(to).empty();
      for (const auto& name : sorted_names(from)) {
        std::string child_rel = child_of(rel, name);
        struct stat cst;
        if (::lstat((from + "/" + name).c_str(), &cst) < 0) return Error::from_errno("stat '{}'", child_rel);
        if (copier.tree.ignore && skip(tree, child_rel, S_ISDIR(cst.st_mode))) continue;
        std::string target = to + "/" + name;
        if (!fresh) {
          BERTH_TRY(target, resolve_in_root(root, dest + "/" + name));
          struct stat t;
          // A symlink in the image where a directory is copied: write through it, inside the root.
          if (::lstat((to + "/" + name).c_str(), &t) == 0 && S_ISLNK(t.st_mode) && !S_ISDIR(cst.st_mode))
            target = to + "/" + name;
        }
        BERTH_TRY_VOID(copier.copy(from + "/" + name, child_rel, cst, target));
      }
      continue;
    }
    std::string target_path = dest;
    if (!dest_is_dir) {
      BERTH_TRY(auto resolved, resolve_in_root(root, dest));
      struct stat dst;
      if (::stat(resolved.c_str(), &dst) == 0 && S_ISDIR(dst.st_mode)) dest_is_dir = true;
    }
    if (dest_is_dir) {
      BERTH_TRY_VOID(make_directories(root, dest, options));
      std::string base = rel.substr(rel.find_last_of('/') + 1);
      target_path = (dest.ends_with('/') ? dest : dest + "/") + base;
    }
    bool created = false;
    BERTH_TRY(auto to, resolved_parent_and(root, target_path, created, options));
    BERTH_TRY_VOID(copier.copy(from, rel, st, to));
  }
  return {};
}

Result<void> write_file_in_root(const std::string& root, const std::string& dest, std::string_view content,
                                const CopyOptions& options) {
  bool created = false;
  BERTH_TRY(auto to, resolved_parent_and(root, dest, created, options));
  ::unlink(to.c_str());
  BERTH_TRY(auto fd, sys::open(to, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
  BERTH_TRY_VOID(sys::write_all(fd.get(), content));
  if (::fchown(fd.get(), options.uid.value_or(0), options.gid.value_or(0)) < 0) return Error::from_errno("chown '{}'", dest);
  if (::fchmod(fd.get(), options.mode.value_or(0644)) < 0) return Error::from_errno("chmod '{}'", dest);
  return {};
}

bool is_archive(const std::string& path) {
  archive* a = archive_read_new();
  image::support_compressions(a);
  archive_read_support_format_tar(a);
  archive_read_support_format_gnutar(a);
  bool ok = false;
  if (archive_read_open_filename(a, path.c_str(), 1 << 16) == ARCHIVE_OK) {
    archive_entry* e;
    ok = archive_read_next_header(a, &e) == ARCHIVE_OK;
  }
  archive_read_free(a);
  return ok;
}

Result<void> extract_archive(const std::string& archive_path, const std::string& root, const std::string& dest,
                             const CopyOptions& options) {
  BERTH_TRY_VOID(make_directories(root, dest, options));
  BERTH_TRY(auto to, resolve_in_root(root, dest));
  archive* in = archive_read_new();
  archive* out = archive_write_disk_new();
  image::support_compressions(in);
  archive_read_support_format_tar(in);
  archive_read_support_format_gnutar(in);
  // Every entry is written under its absolute destination (`to` + its checked name), so no
  // ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS: it refused every entry ("Path is absolute").
  archive_write_disk_set_options(out, ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_OWNER |
                                          ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                                          ARCHIVE_EXTRACT_UNLINK);
  auto fail = [&](archive* a, std::string what) {
    std::string msg = archive_error_string(a) ? archive_error_string(a) : "unknown error";
    archive_read_free(in);
    archive_write_free(out);
    return Error::make(ErrorKind::invalid_argument, "extract '{}': {}: {}", archive_path, what, msg);
  };
  if (archive_read_open_filename(in, archive_path.c_str(), 1 << 16) != ARCHIVE_OK) return fail(in, "open");
  for (;;) {
    archive_entry* e;
    int r = archive_read_next_header(in, &e);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) return fail(in, "read");
    std::string name = archive_entry_pathname(e) ? archive_entry_pathname(e) : "";
    std::vector<std::string> parts;
    for (auto& c : components(name)) {
      if (c == "..") {
        archive_read_free(in);
        archive_write_free(out);
        return Error::make(ErrorKind::invalid_argument, "extract '{}': entry '{}' leaves the destination",
                           archive_path, name);
      }
      parts.push_back(c);
    }
    if (parts.empty()) continue;
    std::string rel;
    for (auto& c : parts) rel += "/" + c;
    archive_entry_set_pathname(e, (to + rel).c_str());
    if (const char* link = archive_entry_hardlink(e)) {
      std::string l;
      for (auto& c : components(link)) l += "/" + c;
      archive_entry_set_hardlink(e, (to + l).c_str());
    }
    if (options.uid) archive_entry_set_uid(e, *options.uid);
    if (options.gid) archive_entry_set_gid(e, *options.gid);
    if (archive_write_header(out, e) < ARCHIVE_WARN) return fail(out, fmt::format("entry '{}'", name));
    const void* block;
    size_t size;
    la_int64_t offset;
    while ((r = archive_read_data_block(in, &block, &size, &offset)) == ARCHIVE_OK)
      if (archive_write_data_block(out, block, size, offset) < ARCHIVE_WARN) return fail(out, fmt::format("entry '{}'", name));
    if (r < ARCHIVE_WARN) return fail(in, fmt::format("entry '{}'", name));
    if (archive_write_finish_entry(out) < ARCHIVE_WARN) return fail(out, fmt::format("entry '{}'", name));
  }
  archive_read_free(in);
  archive_write_free(out);
  return {};
}

}  // namespace berth::build::detail
