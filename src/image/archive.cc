#include "image/archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "base/crash_point.h"
#include "base/json.h"
#include "base/sys.h"
#include "image/detail/archive_layout.h"
#include "image/detail/tar_stream.h"
#include "image/digest.h"
#include "image/layers.h"
#include "image/reference.h"

namespace berth::image {
namespace {

using nlohmann::json;

using namespace detail;  // the archive's layout: file names, chunks, sources

// JSON documents are read whole; a config with a very long history stays far below this.
constexpr int64_t kMaxDocument = 4 << 20;
// What the first pass over a tar keeps in memory, in all: documents and small layers.
constexpr int64_t kMaxKept = 128 << 20;

constexpr std::string_view kContainerdImageName = "io.containerd.image.name";

// Parser errors are about the archive's content, whatever kind the parser chose.
Error as_corrupt(Error e) { return Error(ErrorKind::corrupt, e.message()); }

// ---------------------------------------------------------------------------------------------
// Compression, sniffed from a blob's first bytes.

enum class Compression { none, gzip, zstd, other };

Compression sniff(std::string_view head) {
  auto starts = [&](std::string_view magic) { return head.substr(0, magic.size()) == magic; };
  if (starts("\x1f\x8b")) return Compression::gzip;
  if (starts("\x28\xb5\x2f\xfd")) return Compression::zstd;
  if (starts(std::string_view("\xfd"
                              "7zXZ\0",
                              6)) ||
      starts("BZh"))
    return Compression::other;
  return Compression::none;
}

std::string layer_media_type(Compression c) {
  switch (c) {
    case Compression::gzip:
      return std::string(oci::media_type::kLayerGzip);
    case Compression::zstd:
      return std::string(oci::media_type::kLayerZstd);
    default:
      return std::string(oci::media_type::kLayer);
  }
}

// ---------------------------------------------------------------------------------------------
// Reading one member's bytes: hashed, optionally decompressed and hashed again, optionally
// written to a blob, optionally kept in memory.

struct Member {
  int64_t size = 0;
  std::optional<Digest> digest;  // sha256 of the bytes, when they were read
  Compression compression = Compression::none;
  std::optional<Digest> uncompressed;  // sha256 after decompression (a layer's diff id)
  std::optional<std::string> content;  // the bytes, when small enough to keep
};

struct ReadOptions {
  bool uncompressed_digest = false;
  int64_t keep_limit = 0;  // keep the bytes when there are at most this many
  BlobWriter* sink = nullptr;
};

class MemberReader {
 public:
  MemberReader(const Source& source, const ReadOptions& options)
      : source_(source), options_(options) {
    if (options_.keep_limit > 0) out_.content.emplace();
  }

  Result<Member> read() {
    BERTH_TRY(std::string_view first, next_raw());
    out_.compression = sniff(first);
    if (options_.uncompressed_digest && out_.compression != Compression::none) {
      pending_ = first;
      BERTH_TRY(out_.uncompressed, decompressed_digest());
    }
    while (!eof_) BERTH_TRY_VOID(next_raw());
    out_.digest = raw_.finish();
    if (options_.uncompressed_digest && out_.compression == Compression::none)
      out_.uncompressed = out_.digest;
    return std::move(out_);
  }

 private:
  Result<std::string_view> next_raw() {
    if (eof_) return std::string_view();
    BERTH_TRY(size_t n, source_(buf_.data(), buf_.size()));
    if (n == 0) {
      eof_ = true;
      return std::string_view();
    }
    std::string_view data(buf_.data(), n);
    raw_.update(data);
    out_.size += static_cast<int64_t>(n);
    if (options_.sink) BERTH_TRY_VOID(options_.sink->write(data));
    if (out_.content) {
      if (out_.size <= options_.keep_limit)
        out_.content->append(data);
      else
        out_.content.reset();
    }
    return data;
  }

  static la_ssize_t inner_read(archive* a, void* self_ptr, const void** out) {
    auto* self = static_cast<MemberReader*>(self_ptr);
    std::string_view data = self->pending_;
    self->pending_ = {};
    if (data.empty()) {
      auto next = self->next_raw();
      if (!next) {
        self->error_ = std::move(next).error();
        archive_set_error(a, EIO, "%s", self->error_->message().c_str());
        return -1;
      }
      data = *next;
    }
    *out = data.data();
    return static_cast<la_ssize_t>(data.size());
  }

  Result<Digest> decompressed_digest() {
    std::unique_ptr<archive, decltype(&archive_read_free)> a(archive_read_new(), archive_read_free);
    support_compressions(a.get());
    archive_read_support_format_raw(a.get());
    auto fail = [&](std::string_view what) -> Error {
      if (error_) return *error_;
      const char* msg = archive_error_string(a.get());
      return corrupt(fmt::format("{}: {}", what, msg ? msg : "unknown error"));
    };
    if (archive_read_open(a.get(), this, nullptr, inner_read, nullptr) != ARCHIVE_OK)
      return fail("decompress");
    archive_entry* entry = nullptr;
    if (archive_read_next_header(a.get(), &entry) != ARCHIVE_OK) return fail("decompress");
    Sha256 hasher;
    std::string buf(kChunk, '\0');
    for (;;) {
      la_ssize_t n = archive_read_data(a.get(), buf.data(), buf.size());
      if (n < 0) return fail("decompress");
      if (n == 0) break;
      hasher.update(buf.data(), static_cast<size_t>(n));
    }
    return hasher.finish();
  }

  const Source& source_;
  ReadOptions options_;
  Member out_;
  Sha256 raw_;
  std::string buf_ = std::string(kChunk, '\0');
  std::string_view pending_;
  bool eof_ = false;
  std::optional<Error> error_;
};

Result<Member> read_member(const Source& source, const ReadOptions& options) {
  return MemberReader(source, options).read();
}


// ---------------------------------------------------------------------------------------------
// Member paths.

// "./a//b" → "a/b". Absolute paths and ".." are refused: nothing may name a file outside the
// archive. `what` names the path's source in the error.
Result<std::string> member_name(std::string_view path, std::string_view what) {
  if (path.empty()) return Error::make(ErrorKind::invalid_argument, "{}: empty path", what);
  if (path.front() == '/')
    return Error::make(ErrorKind::invalid_argument, "{}: absolute path: outside the archive", what);
  std::string out;
  for (const auto& part : sys::split(path, '/')) {
    if (part == ".") continue;
    if (part == "..")
      return Error::make(ErrorKind::invalid_argument, "{}: '..' escapes the archive", what);
    if (!out.empty()) out += '/';
    out += part;
  }
  if (out.empty())
    return Error::make(ErrorKind::invalid_argument, "{}: names the archive root", what);
  return out;
}

// A symlink's target, relative to the link's directory, as a member name.
Result<std::string> link_target(const std::string& link, std::string_view target,
                                std::string_view what) {
  if (!target.empty() && target.front() == '/')
    return Error::make(ErrorKind::invalid_argument, "{}: absolute target '{}'", what, target);
  std::vector<std::string> parts = sys::split(link, '/');
  parts.pop_back();
  for (auto& part : sys::split(target, '/')) {
    if (part == ".") continue;
    if (part != "..") {
      parts.push_back(std::move(part));
      continue;
    }
    if (parts.empty())
      return Error::make(ErrorKind::invalid_argument, "{}: target '{}' escapes the archive", what,
                         target);
    parts.pop_back();
  }
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : "/") + p;
  return out;
}


// ---------------------------------------------------------------------------------------------
// The archive's members, from a tar (two passes) or from a directory.

using MemberFn = std::function<Result<void>(const std::string& name, const Source& source)>;

class Input {
 public:
  virtual ~Input() = default;
  virtual bool has(const std::string& name) = 0;
  // The member (following links); not_found naming `what` when it is missing.
  virtual Result<const Member*> member(const std::string& name, std::string_view what) = 0;
  // Resolves links: the name under which stream() offers the member.
  virtual Result<std::string> resolve(const std::string& name, std::string_view what) = 0;
  // Calls fn for each named (resolved) member, in whatever order the input has them.
  virtual Result<void> stream(const std::set<std::string>& names, const MemberFn& fn) = 0;
};

Error missing(std::string_view what) {
  return Error::make(ErrorKind::not_found, "{}: no such member in the archive", what);
}

struct ReadArchive {
  std::unique_ptr<archive, decltype(&archive_read_free)> a{archive_read_new(), archive_read_free};
  Error error(std::string_view what) const {
    const char* msg = archive_error_string(a.get());
    return corrupt(fmt::format("{}: {}", what, msg ? msg : "unknown error"));
  }
};

Result<std::unique_ptr<ReadArchive>> open_tar(int fd) {
  if (::lseek(fd, 0, SEEK_SET) < 0) return Error::from_errno("seek to the archive's start");
  auto r = std::make_unique<ReadArchive>();
  support_compressions(r->a.get());
  archive_read_support_format_tar(r->a.get());
  if (archive_read_open_fd(r->a.get(), fd, kChunk) != ARCHIVE_OK)
    return r->error("not a tar archive");
  return r;
}

Source archive_source(archive* a) {
  return [a](char* buf, size_t size) -> Result<size_t> {
    la_ssize_t n = archive_read_data(a, buf, size);
    if (n < 0) {
      const char* msg = archive_error_string(a);
      return corrupt(fmt::format("read: {}", msg ? msg : "unknown error"));
    }
    return static_cast<size_t>(n);
  };
}

class TarInput final : public Input {
 public:
  explicit TarInput(int fd) : fd_(fd) {}

  // Pass one: every member's path checked, every regular member hashed (and, outside blobs/,
  // where docker-archive layers live, decompressed and hashed), small ones kept.
  Result<void> scan() {
    BERTH_TRY(auto tar, open_tar(fd_));
    archive* a = tar->a.get();
    int64_t kept = 0;
    for (;;) {
      archive_entry* entry = nullptr;
      int r = archive_read_next_header(a, &entry);
      if (r == ARCHIVE_EOF) break;
      if (r < ARCHIVE_WARN)
        return tar->error(members_.empty() && aliases_.empty() ? "not a tar archive"
                                                               : "read tar header");
      const char* raw_path = archive_entry_pathname(entry);
      std::string path = raw_path ? raw_path : "";
      std::string what = fmt::format("member '{}'", path);
      auto type = archive_entry_filetype(entry);
      if (type == AE_IFDIR && (path == "." || path == "./")) continue;
      BERTH_TRY(std::string name, member_name(path, what));
      // Later members would shadow earlier ones, and the second pass could not tell which.
      if (type != AE_IFDIR && (members_.count(name) || aliases_.count(name)))
        return corrupt(fmt::format("{}: appears twice in the archive", what));
      if (const char* hardlink = archive_entry_hardlink(entry)) {
        BERTH_TRY(aliases_[name], member_name(hardlink, what + " hard link target"));
      } else if (type == AE_IFLNK) {
        const char* target = archive_entry_symlink(entry);
        BERTH_TRY(aliases_[name], link_target(name, target ? target : "", what));
      } else if (type == AE_IFREG) {
        ReadOptions opts;
        opts.uncompressed_digest = !name.starts_with("blobs/");
        opts.keep_limit = std::min(kMaxDocument, kMaxKept - kept);
        auto m = read_member(archive_source(a), opts);
        if (!m) return std::move(m).error().context(what);
        if (m->content) kept += m->size;
        members_[name] = std::move(*m);
      }
    }
    return {};
  }

  bool has(const std::string& name) override {
    auto resolved = resolve(name, name);
    return resolved && members_.count(*resolved);
  }

  Result<std::string> resolve(const std::string& name, std::string_view what) override {
    std::string current = name;
    for (int i = 0; i < 16; ++i) {
      auto it = aliases_.find(current);
      if (it == aliases_.end()) return current;
      current = it->second;
    }
    return corrupt(fmt::format("{}: too many levels of links", what));
  }

  Result<const Member*> member(const std::string& name, std::string_view what) override {
    BERTH_TRY(std::string resolved, resolve(name, what));
    auto it = members_.find(resolved);
    if (it == members_.end()) return missing(what);
    return &it->second;
  }

  Result<void> stream(const std::set<std::string>& names, const MemberFn& fn) override {
    BERTH_TRY(auto tar, open_tar(fd_));
    std::set<std::string> seen;
    for (;;) {
      archive_entry* entry = nullptr;
      int r = archive_read_next_header(tar->a.get(), &entry);
      if (r == ARCHIVE_EOF) break;
      if (r < ARCHIVE_WARN) return tar->error("read tar header");
      if (archive_entry_filetype(entry) != AE_IFREG || archive_entry_hardlink(entry)) continue;
      const char* path = archive_entry_pathname(entry);
      auto name = member_name(path ? path : "", "member");
      if (!name || !names.count(*name) || !seen.insert(*name).second) continue;
      BERTH_TRY_VOID(fn(*name, archive_source(tar->a.get())));
    }
    for (const auto& name : names)
      if (!seen.count(name))
        return missing(fmt::format("member '{}'", name)).context("read the archive again");
    return {};
  }

 private:
  int fd_;
  std::map<std::string, Member> members_;
  std::map<std::string, std::string> aliases_;
};

class DirInput final : public Input {
 public:
  explicit DirInput(std::string root) : root_(std::move(root)) {}

  bool has(const std::string& name) override {
    struct stat st;
    return ::stat(path(name).c_str(), &st) == 0 && S_ISREG(st.st_mode);
  }
  Result<std::string> resolve(const std::string& name, std::string_view) override { return name; }

  // Documents and small blobs are read and hashed now; larger ones only when streamed, where
  // the content store's writer checks their digest.
  Result<const Member*> member(const std::string& name, std::string_view what) override {
    if (auto it = members_.find(name); it != members_.end()) return &it->second;
    auto fd = sys::open(path(name), O_RDONLY | O_CLOEXEC);
    if (!fd) {
      if (fd.error().sys_errno() == ENOENT) return missing(what);
      return std::move(fd).error().context(what);
    }
    struct stat st;
    if (::fstat(fd->get(), &st) < 0) return Error::from_errno("stat '{}'", path(name));
    if (!S_ISREG(st.st_mode))
      return Error::make(ErrorKind::corrupt, "{}: not a regular file", what);
    Member m;
    m.size = st.st_size;
    if (st.st_size <= kMaxDocument) {
      ReadOptions opts;
      opts.keep_limit = kMaxDocument;
      auto read = read_member(fd_source(fd->get(), path(name)), opts);
      if (!read) return std::move(read).error().context(what);
      m = std::move(*read);
    }
    return &(members_[name] = std::move(m));
  }

  Result<void> stream(const std::set<std::string>& names, const MemberFn& fn) override {
    for (const auto& name : names) {
      BERTH_TRY(auto fd, sys::open(path(name), O_RDONLY | O_CLOEXEC));
      BERTH_TRY_VOID(fn(name, fd_source(fd.get(), path(name))));
    }
    return {};
  }

 private:
  std::string path(const std::string& name) const { return root_ + "/" + name; }
  std::string root_;
  std::map<std::string, Member> members_;
};

// ---------------------------------------------------------------------------------------------
// Loading: the plan (what to ingest, all checked), then the ingest.

struct PlannedBlob {
  std::string member;  // resolved name
  std::string what;    // for messages
  std::string media_type;
  int64_t size = 0;
  std::optional<Digest> diff_id;  // still to check while ingesting (not known from the scan)
};

class Loader {
 public:
  Loader(ContentStore& store, Input& input, const LoadOptions& options, std::string base_name)
      : store_(store), input_(input), options_(options), base_name_(std::move(base_name)) {}

  Result<LoadResult> load(ArchiveFormat format) {
    result_.format = format;
    if (format == ArchiveFormat::docker_archive)
      BERTH_TRY_VOID(plan_docker());
    else
      BERTH_TRY_VOID(plan_oci());
    BERTH_TRY_VOID(ingest());
    return std::move(result_);
  }

 private:
  Result<std::string> document(const std::string& name, std::string_view what) {
    BERTH_TRY(const Member* m, input_.member(name, what));
    if (!m->content)
      return corrupt(fmt::format("{}: {} bytes: too large for a JSON document (at most {})", what,
                                 m->size, kMaxDocument));
    return *m->content;
  }

  // A member that must hold `digest` (and `size`, when given).
  Result<const Member*> checked_blob(const std::string& name, const Digest& digest,
                                     std::optional<int64_t> size, std::string_view what) {
    BERTH_TRY(const Member* m, input_.member(name, what));
    if (size && *size != m->size)
      return corrupt(fmt::format("{}: size mismatch: expected {} bytes, the archive has {}", what,
                                 *size, m->size));
    if (m->digest && *m->digest != digest)
      return corrupt(fmt::format("{}: digest mismatch: expected {}, got {}", what, digest.str(),
                                 m->digest->str()));
    return m;
  }

  Result<void> plan_blob(const std::string& name, const Digest& digest, std::string media_type,
                         std::string what, std::optional<Digest> diff_id = std::nullopt) {
    BERTH_TRY(std::string resolved, input_.resolve(name, what));
    PlannedBlob& p = plan_[digest];
    p.member = std::move(resolved);
    p.what = std::move(what);
    p.media_type = std::move(media_type);
    BERTH_TRY(const Member* m, input_.member(p.member, p.what));
    p.size = m->size;
    if (diff_id) p.diff_id = diff_id;
    return {};
  }

  // --- docker-archive ---

  struct DockerEntry {
    std::string config;
    std::vector<std::string> repo_tags;
    std::vector<std::string> layers;
  };

  static Result<std::vector<DockerEntry>> parse_docker_manifest(std::string_view text) {
    std::vector<DockerEntry> out;
    try {
      json j = parse_json(text);
      if (!j.is_array()) return corrupt("manifest.json: want a JSON array");
      for (size_t i = 0; i < j.size(); ++i) {
        const json& e = j[i];
        auto at = [&](std::string_view field) {
          return fmt::format("manifest.json: [{}].{}", i, field);
        };
        if (!e.is_object()) return corrupt(fmt::format("manifest.json: [{}]: want an object", i));
        DockerEntry d;
        if (!e.contains("Config") || !e["Config"].is_string())
          return corrupt(at("Config") + ": want a string");
        d.config = e["Config"].get<std::string>();
        if (e.contains("RepoTags") && !e["RepoTags"].is_null()) {
          if (!e["RepoTags"].is_array()) return corrupt(at("RepoTags") + ": want an array");
          for (const auto& t : e["RepoTags"]) {
            if (!t.is_string()) return corrupt(at("RepoTags") + ": want strings");
            d.repo_tags.push_back(t.get<std::string>());
          }
        }
        if (!e.contains("Layers") || !e["Layers"].is_array())
          return corrupt(at("Layers") + ": want an array");
        for (const auto& l : e["Layers"]) {
          if (!l.is_string()) return corrupt(at("Layers") + ": want strings");
          d.layers.push_back(l.get<std::string>());
        }
        out.push_back(std::move(d));
      }
    } catch (const json::exception& e) {
      return corrupt(fmt::format("manifest.json: malformed JSON: {}", e.what()));
    }
    if (out.empty()) return corrupt("manifest.json: no images");
    return out;
  }

  // Docker's rules: no domain means docker.io, and a one-component path there is library/NAME.
  static Result<std::string> docker_name(const std::string& tag) {
    std::string full = tag;
    auto slash = tag.find('/');
    std::string head = tag.substr(0, slash);
    bool has_domain = slash != std::string::npos &&
                      (head.find_first_of(".:") != std::string::npos || head == "localhost");
    if (!has_domain)
      full = "docker.io/" + std::string(slash == std::string::npos ? "library/" : "") + tag;
    BERTH_TRY(auto ref, Reference::parse(full));
    return ref.to_string();
  }

  Result<void> plan_docker() {
    BERTH_TRY(std::string text, document(std::string(kDockerManifestJson), "manifest.json"));
    BERTH_TRY(auto entries, parse_docker_manifest(text));
    for (size_t i = 0; i < entries.size(); ++i) {
      const DockerEntry& e = entries[i];
      std::string what = fmt::format("manifest.json: [{}].Config '{}'", i, e.config);
      BERTH_TRY(std::string config_name, member_name(e.config, what));
      BERTH_TRY(std::string config_text, document(config_name, what));
      std::string config_what = fmt::format("config '{}'", config_name);
      auto config = oci::parse_image_config(config_text, config_what);
      if (!config) return as_corrupt(std::move(config).error());
      if (config->diff_ids.size() != e.layers.size())
        return corrupt(
            fmt::format("{}: {} diff ids in rootfs.diff_ids for {} layers in "
                        "manifest.json",
                        config_what, config->diff_ids.size(), e.layers.size()));
      Digest config_digest = sha256_of(config_text);
      oci::Manifest manifest;
      manifest.media_type = std::string(oci::media_type::kImageManifest);
      manifest.config.media_type = std::string(oci::media_type::kImageConfig);
      manifest.config.digest = config_digest.str();
      manifest.config.size = static_cast<int64_t>(config_text.size());
      BERTH_TRY_VOID(plan_blob(config_name, config_digest, manifest.config.media_type, what));

      for (size_t l = 0; l < e.layers.size(); ++l) {
        std::string layer_what =
            fmt::format("manifest.json: [{}].Layers[{}] '{}'", i, l, e.layers[l]);
        BERTH_TRY(std::string name, member_name(e.layers[l], layer_what));
        BERTH_TRY(const Member* m, input_.member(name, layer_what));
        BERTH_TRY(Digest diff_id,
                  Digest::parse(config->diff_ids[l])
                      .context(fmt::format("{}: rootfs.diff_ids[{}]", config_what, l)));
        layer_what = fmt::format("layer '{}'", name);
        if (m->compression == Compression::other)
          return Error::make(ErrorKind::unsupported,
                             "{}: compressed with neither gzip nor zstd: OCI layers cannot say so",
                             layer_what);
        if (m->uncompressed && *m->uncompressed != diff_id)
          return corrupt(fmt::format("{}: diff id mismatch: the config says {}, the layer is {}",
                                     layer_what, diff_id.str(), m->uncompressed->str()));
        oci::Descriptor layer;
        layer.media_type = layer_media_type(m->compression);
        layer.digest = m->digest->str();
        layer.size = m->size;
        std::optional<Digest> to_check;
        if (!m->uncompressed) to_check = diff_id;
        BERTH_TRY_VOID(plan_blob(name, *m->digest, layer.media_type, layer_what, to_check));
        manifest.layers.push_back(std::move(layer));
      }

      std::string manifest_text = oci::to_json(manifest);
      oci::Descriptor descriptor;
      descriptor.media_type = manifest.media_type;
      descriptor.digest = sha256_of(manifest_text).str();
      descriptor.size = static_cast<int64_t>(manifest_text.size());
      documents_[*Digest::parse(descriptor.digest)] = {manifest_text, manifest.media_type};
      LoadedImage& image = image_for(descriptor);
      for (const auto& tag : e.repo_tags) {
        auto name = docker_name(tag);
        if (name)
          add_name(image, *name);
        else
          result_.warnings.push_back(
              fmt::format("manifest.json: [{}].RepoTags: {}", i, name.error().message()));
      }
    }
    return {};
  }

  // One image per manifest: entries of the same manifest (other names) merge into it.
  LoadedImage& image_for(const oci::Descriptor& manifest) {
    for (auto& image : result_.images)
      if (image.manifest.digest == manifest.digest) return image;
    LoadedImage image;
    image.manifest.media_type = manifest.media_type;
    image.manifest.digest = manifest.digest;
    image.manifest.size = manifest.size;
    return result_.images.emplace_back(std::move(image));
  }
  static void add_name(LoadedImage& image, const std::string& name) {
    if (std::find(image.names.begin(), image.names.end(), name) == image.names.end())
      image.names.push_back(name);
  }

  // --- OCI layout ---

  struct Platform {
    std::string os, architecture;
  };

  static std::string host_architecture() {
    struct utsname u;
    if (::uname(&u) < 0) return "unknown";
    static const std::map<std::string, std::string> kGoNames = {
        {"x86_64", "amd64"},    {"aarch64", "arm64"}, {"i686", "386"},
        {"i386", "386"},        {"armv7l", "arm"},    {"armv6l", "arm"},
        {"riscv64", "riscv64"}, {"s390x", "s390x"},   {"ppc64le", "ppc64le"}};
    auto it = kGoNames.find(u.machine);
    return it == kGoNames.end() ? u.machine : it->second;
  }

  // Reads and checks a document blob named by a descriptor.
  Result<std::string> blob_document(const oci::Descriptor& d, std::string_view what) {
    BERTH_TRY(Digest digest, Digest::parse(d.digest).context(what));
    if (!digest.is_sha256())
      return Error::make(ErrorKind::unsupported, "{}: digest '{}': only sha256 is supported", what,
                         d.digest);
    std::string name = blob_member(digest);
    std::string member_what = fmt::format("{}: blob '{}'", what, name);
    BERTH_TRY_VOID(checked_blob(name, digest, d.size, member_what));
    return document(name, member_what);
  }

  // The media type of a descriptor, or of the document it points to when it does not say.
  static std::string document_media_type(const oci::Descriptor& d, std::string_view text) {
    if (!d.media_type.empty()) return d.media_type;
    try {
      json j = parse_json(text);
      if (j.is_object() && j.contains("mediaType") && j["mediaType"].is_string())
        return j["mediaType"].get<std::string>();
      if (j.is_object() && j.contains("manifests"))
        return std::string(oci::media_type::kImageIndex);
      if (j.is_object() && j.contains("layers"))
        return std::string(oci::media_type::kImageManifest);
    } catch (const json::exception&) {
    }
    return "";
  }

  // Follows indexes down to the image manifest for the wanted platform.
  Result<std::optional<oci::Descriptor>> choose(const oci::Descriptor& d, std::string_view what,
                                                int depth) {
    if (depth > 8) return corrupt(fmt::format("{}: indexes nested too deeply", what));
    BERTH_TRY(std::string text, blob_document(d, what));
    std::string type = document_media_type(d, text);
    if (oci::media_type::is_manifest(type)) {
      oci::Descriptor out = d;
      out.media_type = type;
      BERTH_TRY_VOID(plan_manifest(out, text, what));
      return std::optional<oci::Descriptor>(out);
    }
    if (!oci::media_type::is_index(type)) {
      result_.warnings.push_back(
          fmt::format("{}: skipped: '{}' is neither an image manifest nor an index", what, type));
      return std::optional<oci::Descriptor>();
    }
    auto index = oci::parse_index(text, what);
    if (!index) return as_corrupt(std::move(index).error());
    for (size_t i = 0; i < index->manifests.size(); ++i) {
      const auto& m = index->manifests[i];
      if (m.platform && wanted(*m.platform))
        return choose(m, fmt::format("{}: manifests[{}]", what, i), depth + 1);
    }
    return Error::make(ErrorKind::not_found, "{}: no manifest for {} in the index", what,
                       wanted_platform());
  }

  std::string wanted_os() const { return options_.os.empty() ? "linux" : options_.os; }
  std::string wanted_architecture() const {
    return options_.architecture.empty() ? host_architecture() : options_.architecture;
  }
  std::string wanted_platform() const { return wanted_os() + "/" + wanted_architecture(); }
  bool wanted(const oci::Platform& p) const {
    return p.os == wanted_os() && p.architecture == wanted_architecture();
  }

  Result<void> plan_manifest(const oci::Descriptor& d, const std::string& text,
                             std::string_view what) {
    std::string manifest_what = fmt::format("{}: manifest {}", what, d.digest);
    auto manifest = oci::parse_manifest(text, manifest_what);
    if (!manifest) return as_corrupt(std::move(manifest).error());
    BERTH_TRY(std::string config_text, blob_document(manifest->config, manifest_what + ": config"));
    auto config = oci::parse_image_config(config_text, manifest_what + ": config");
    if (!config) return as_corrupt(std::move(config).error());
    if (config->diff_ids.size() != manifest->layers.size())
      return corrupt(fmt::format("{}: {} layers but {} diff ids in its config", manifest_what,
                                 manifest->layers.size(), config->diff_ids.size()));
    Digest config_digest = *Digest::parse(manifest->config.digest);
    BERTH_TRY_VOID(plan_blob(blob_member(config_digest), config_digest, manifest->config.media_type,
                             manifest_what + ": config"));
    for (size_t i = 0; i < manifest->layers.size(); ++i) {
      const auto& layer = manifest->layers[i];
      std::string layer_what = fmt::format("{}: layers[{}]", manifest_what, i);
      BERTH_TRY(Digest digest, Digest::parse(layer.digest).context(layer_what));
      if (!digest.is_sha256())
        return Error::make(ErrorKind::unsupported, "{}: digest '{}': only sha256 is supported",
                           layer_what, layer.digest);
      std::string name = blob_member(digest);
      layer_what += fmt::format(": blob '{}'", name);
      BERTH_TRY(const Member* m, checked_blob(name, digest, layer.size, layer_what));
      if (m->uncompressed && Digest::parse(config->diff_ids[i]) &&
          *m->uncompressed != *Digest::parse(config->diff_ids[i]))
        return corrupt(fmt::format("{}: diff id mismatch: the config says {}, the layer is {}",
                                   layer_what, config->diff_ids[i], m->uncompressed->str()));
      BERTH_TRY_VOID(plan_blob(name, digest, layer.media_type, layer_what));
    }
    Digest manifest_digest = *Digest::parse(d.digest);
    BERTH_TRY_VOID(
        plan_blob(blob_member(manifest_digest), manifest_digest, d.media_type, manifest_what));
    return {};
  }

  // See LoadedImage::names.
  std::optional<std::string> oci_name(const oci::Descriptor& d, std::string_view what) {
    std::string text;
    if (auto it = d.annotations.find(std::string(kContainerdImageName)); it != d.annotations.end())
      text = it->second;
    else if (auto ref = d.annotations.find(std::string(oci::kAnnotationRefName));
             ref != d.annotations.end())
      text = ref->second;
    else
      return std::nullopt;
    bool bare_tag = text.find_first_of("/:@") == std::string::npos;
    if (bare_tag) {
      if (base_name_.empty() || !is_valid_tag(text)) {
        result_.warnings.push_back(fmt::format(
            "{}: ref name '{}' is a tag of no repository: the image is loaded without a name", what,
            text));
        return std::nullopt;
      }
      text = "localhost/" + base_name_ + ":" + text;
    }
    auto ref = Reference::parse(text);
    if (!ref) {
      result_.warnings.push_back(fmt::format("{}: {}", what, ref.error().message()));
      return std::nullopt;
    }
    return ref->to_string();
  }

  Result<void> plan_oci() {
    BERTH_TRY(std::string layout, document(std::string(kOciLayout), "oci-layout"));
    try {
      json j = parse_json(layout);
      if (!j.is_object() || !j.contains("imageLayoutVersion") ||
          !j["imageLayoutVersion"].is_string())
        return corrupt("oci-layout: want an object with the string imageLayoutVersion");
      if (j["imageLayoutVersion"] != std::string(oci::kImageLayoutVersion))
        result_.warnings.push_back(fmt::format("oci-layout: imageLayoutVersion '{}', expected '{}'",
                                               j["imageLayoutVersion"].get<std::string>(),
                                               oci::kImageLayoutVersion));
    } catch (const json::exception& e) {
      return corrupt(fmt::format("oci-layout: malformed JSON: {}", e.what()));
    }
    BERTH_TRY(std::string text, document(std::string(kIndexJson), "index.json"));
    auto index = oci::parse_index(text, "index.json");
    if (!index) return as_corrupt(std::move(index).error());
    for (size_t i = 0; i < index->manifests.size(); ++i) {
      const auto& d = index->manifests[i];
      std::string what = fmt::format("index.json: manifests[{}]", i);
      // A layout may list each platform's manifest in index.json itself.
      if (d.platform && !wanted(*d.platform)) {
        result_.warnings.push_back(fmt::format("{}: skipped: platform {}/{}, not {}", what,
                                               d.platform->os, d.platform->architecture,
                                               wanted_platform()));
        continue;
      }
      BERTH_TRY(auto chosen, choose(d, what, 0));
      if (!chosen) continue;
      LoadedImage& image = image_for(*chosen);
      if (auto name = oci_name(d, what)) add_name(image, *name);
    }
    if (result_.images.empty())
      return Error::make(ErrorKind::not_found, "index.json: no image manifest for {}",
                         wanted_platform());
    return {};
  }

  // --- ingest ---

  Result<void> ingest() {
    for (const auto& [digest, doc] : documents_) {
      IngestOptions opts;
      opts.media_type = doc.second;
      opts.expected_digest = digest;
      BERTH_TRY_VOID(
          store_.ingest(doc.first, opts).context(fmt::format("store manifest {}", digest.str())));
    }
    std::map<std::string, std::vector<Digest>> to_stream;
    for (const auto& [digest, blob] : plan_) {
      if (store_.exists(digest) && !blob.diff_id) continue;
      BERTH_TRY(const Member* m, input_.member(blob.member, blob.what));
      IngestOptions opts;
      opts.media_type = blob.media_type;
      opts.expected_digest = digest;
      opts.expected_size = blob.size;
      if (m->content && !blob.diff_id) {
        BERTH_TRY_VOID(store_.ingest(*m->content, opts).context(blob.what));
        if (options_.progress) options_.progress(digest.str(), blob.size);
      } else {
        to_stream[blob.member].push_back(digest);
      }
    }
    if (to_stream.empty()) return {};
    std::set<std::string> names;
    for (const auto& [name, digests] : to_stream) names.insert(name);
    return input_.stream(names, [&](const std::string& name, const Source& source) -> Result<void> {
      // One member holds one digest; two plan entries can only share it by being the same blob.
      const Digest& digest = to_stream[name].front();
      const PlannedBlob& blob = plan_[digest];
      IngestOptions opts;
      opts.media_type = blob.media_type;
      opts.expected_digest = digest;
      opts.expected_size = blob.size;
      auto run = [&]() -> Result<void> {
        BERTH_TRY(auto writer, store_.writer(opts));
        ReadOptions read_opts;
        read_opts.sink = &writer;
        read_opts.uncompressed_digest = blob.diff_id.has_value();
        BERTH_TRY(Member m, read_member(source, read_opts));
        if (blob.diff_id && m.uncompressed != blob.diff_id)
          return corrupt(fmt::format("diff id mismatch: the config says {}, the layer is {}",
                                     blob.diff_id->str(),
                                     m.uncompressed ? m.uncompressed->str() : "?"));
        BERTH_TRY_VOID(writer.commit());
        return {};
      };
      BERTH_TRY_VOID(run().context(blob.what));
      if (options_.progress) options_.progress(digest.str(), blob.size);
      return {};
    });
  }

  ContentStore& store_;
  Input& input_;
  const LoadOptions& options_;
  std::string base_name_;
  LoadResult result_;
  std::map<Digest, PlannedBlob> plan_;
  std::map<Digest, std::pair<std::string, std::string>> documents_;  // built here: bytes, type
};

// `busybox.oci.tar` → "busybox": the repository for bare-tag ref names (see LoadedImage).
std::string archive_base_name(const std::string& path) {
  if (path == "-") return "";
  std::string p = path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  std::string base =
      p.substr(p.find_last_of('/') == std::string::npos ? 0 : p.find_last_of('/') + 1);
  base = base.substr(0, base.find('.'));
  std::string out;
  for (char c : base) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') out += c;
  }
  while (!out.empty() && !std::isalnum(static_cast<unsigned char>(out.front()))) out.erase(0, 1);
  if (out.empty() || !Reference::parse("localhost/" + out)) return "";
  return out;
}

// stdin or a pipe, copied to an unlinked file so that the tar can be read twice.
Result<UniqueFd> spool(ContentStore& store, int in, const std::string& what) {
  std::string dir = store.root() + "/ingest";
  auto tmp = sys::open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (!tmp && tmp.error().sys_errno() == EOPNOTSUPP) {  // file systems without O_TMPFILE
    std::string path = fmt::format("{}/load-{}-XXXXXX", dir, ::getpid());
    int raw = ::mkostemp(path.data(), O_CLOEXEC);
    if (raw < 0) return Error::from_errno("create a temporary file in '{}'", dir);
    ::unlink(path.c_str());
    tmp = UniqueFd(raw);
  }
  BERTH_TRY(auto fd, std::move(tmp));
  std::string buf(kChunk, '\0');
  for (;;) {
    ssize_t n = ::read(in, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error::from_errno("read '{}'", what);
    }
    if (n == 0) break;
    BERTH_TRY_VOID(sys::write_all(fd.get(), std::string_view(buf.data(), static_cast<size_t>(n))));
  }
  return fd;
}

Result<LoadResult> load_tar(ContentStore& store, int fd, const LoadOptions& options,
                            const std::string& base_name) {
  TarInput input(fd);
  BERTH_TRY_VOID(input.scan());
  ArchiveFormat format;
  if (input.has(std::string(kOciLayout)) && input.has(std::string(kIndexJson)))
    format = ArchiveFormat::oci_archive;
  else if (input.has(std::string(kDockerManifestJson)))
    format = ArchiveFormat::docker_archive;
  else
    return Error::make(ErrorKind::invalid_argument,
                       "neither an OCI archive (oci-layout and index.json) nor a docker-archive "
                       "(manifest.json)");
  return Loader(store, input, options, base_name).load(format);
}

}  // namespace

namespace detail {

Source fd_source(int fd, std::string path) {
  return [fd, path = std::move(path)](char* buf, size_t size) -> Result<size_t> {
    for (;;) {
      ssize_t n = ::read(fd, buf, size);
      if (n >= 0) return static_cast<size_t>(n);
      if (errno != EINTR) return Error::from_errno("read '{}'", path);
    }
  };
}

}  // namespace detail

std::string_view archive_format_name(ArchiveFormat format) {
  switch (format) {
    case ArchiveFormat::docker_archive:
      return "docker-archive";
    case ArchiveFormat::oci_archive:
      return "oci-archive";
    case ArchiveFormat::oci_layout_dir:
      return "oci-dir";
  }
  return "unknown";
}

Result<ArchiveFormat> parse_archive_format(std::string_view name) {
  if (name == "docker-archive" || name == "docker") return ArchiveFormat::docker_archive;
  if (name == "oci-archive" || name == "oci") return ArchiveFormat::oci_archive;
  if (name == "oci-dir") return ArchiveFormat::oci_layout_dir;
  return Error::make(ErrorKind::invalid_argument,
                     "archive format '{}': want docker-archive, oci-archive or oci-dir", name);
}

Result<LoadResult> load_archive(ContentStore& store, const std::string& path,
                                const LoadOptions& options) {
  auto run = [&]() -> Result<LoadResult> {
    std::string base_name = archive_base_name(path);
    if (path == "-") {
      BERTH_TRY(auto fd, spool(store, 0, "stdin"));
      return load_tar(store, fd.get(), options, base_name);
    }
    struct stat st;
    if (::stat(path.c_str(), &st) < 0) return Error::from_errno("stat '{}'", path);
    if (S_ISDIR(st.st_mode)) {
      if (!sys::exists(path + "/" + std::string(kOciLayout)))
        return Error::make(ErrorKind::invalid_argument,
                           "directory without an oci-layout file: not an OCI image layout");
      DirInput input(path);
      return Loader(store, input, options, base_name).load(ArchiveFormat::oci_layout_dir);
    }
    BERTH_TRY(auto fd, sys::open(path, O_RDONLY | O_CLOEXEC));
    if (::lseek(fd.get(), 0, SEEK_CUR) < 0) {  // a pipe or a character device
      BERTH_TRY(auto spooled, spool(store, fd.get(), path));
      return load_tar(store, spooled.get(), options, base_name);
    }
    return load_tar(store, fd.get(), options, base_name);
  };
  return run().context(fmt::format("load '{}'", path));
}

}  // namespace berth::image
