// Registry client verbs: pull, push, login, logout.
#include <termios.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>

#include "base/sys.h"
#include "cli/berth/command.h"
#include "engine/images.h"
#include "image/reference.h"
#include "registry/client.h"
#include "registry/client_credentials.h"
#include "state/lock.h"

namespace berth::cli {
namespace {

using registry::BlobEvent;

Result<bool> tls_verify_option(const ParsedArgs& a) {
  std::string v = a.value("tls-verify", "true");
  if (v == "true" || v == "1") return true;
  if (v == "false" || v == "0") return false;
  return Error::make(ErrorKind::invalid_argument, "--tls-verify '{}': use true or false", v);
}

// "127.0.0.1:5000/app" means that registry; a name without one ("app") has nowhere to go.
Result<image::Reference> remote_reference(std::string_view text, std::string_view verb) {
  BERTH_TRY(auto ref, image::Reference::parse(text));
  if (ref.domain() == "localhost" && !text.starts_with("localhost"))
    return Error::make(ErrorKind::invalid_argument, "{} '{}': the name has no registry", verb, text)
        .with_hint(fmt::format("name one, as in: berth {} 127.0.0.1:5000/{}", verb, text));
  return ref;
}

// "https://host:5000/v1/" → "host:5000"; nothing → docker.io.
std::string server_name(const ParsedArgs& a) {
  std::string s = a.positionals.empty() ? "docker.io" : a.positionals[0];
  if (auto sep = s.find("://"); sep != std::string::npos) s = s.substr(sep + 3);
  s = s.substr(0, s.find('/'));
  if (s == "index.docker.io" || s == "registry-1.docker.io") s = "docker.io";
  return s;
}

std::string short_digest(const std::string& digest) { return digest.substr(0, std::min<size_t>(digest.size(), 19)); }

// Per-blob progress: bars redrawn in place on a terminal, one line per finished blob otherwise.
class ProgressView {
 public:
  ProgressView(bool quiet, std::string_view verb)
      : quiet_(quiet), tty_(::isatty(1) == 1), verb_(verb), start_(std::chrono::steady_clock::now()) {}

  void on(const BlobEvent& e) {
    if (quiet_) return;
    auto [it, added] = index_.try_emplace(e.digest, lines_.size());
    if (added) lines_.push_back({e.digest, blob_kind(e.media_type), e.size, 0, ""});
    Line& l = lines_[it->second];
    l.done = e.done;
    using K = BlobEvent::Kind;
    bool final_state = e.kind == K::finished || e.kind == K::skipped || e.kind == K::mounted;
    switch (e.kind) {
      case K::started: l.state = e.resumed_from > 0 ? fmt::format("resuming at {}", human_size(e.resumed_from)) : ""; break;
      case K::progress: l.state = ""; break;
      case K::finished: l.state = fmt::format("{} ({})", verb_, human_size(e.size)); l.done = e.size; break;
      case K::skipped: l.state = "already exists"; l.done = e.size; break;
      case K::mounted: l.state = "mounted from " + e.from; l.done = e.size; break;
    }
    if (!tty_) {
      if (final_state || (e.kind == K::started && e.resumed_from > 0))
        print(fmt::format("{} {}… {}\n", l.kind, short_digest(l.digest), l.state));
      return;
    }
    auto now = std::chrono::steady_clock::now();
    if (final_state || added || now - last_draw_ > std::chrono::milliseconds(100)) {
      draw();
      last_draw_ = now;
    }
  }

  void finish() {
    if (!quiet_ && tty_) draw();
  }

 private:
  struct Line {
    std::string digest, kind;
    int64_t size, done;
    std::string state;
  };

  static std::string blob_kind(std::string_view media_type) {
    return media_type.find("config") != std::string_view::npos ? "config" : "layer";
  }

  static std::string bar(int64_t done, int64_t size) {
    constexpr int kWidth = 30;
    int filled = size > 0 ? static_cast<int>(kWidth * std::min<int64_t>(done, size) / size) : kWidth;
    std::string b(static_cast<size_t>(filled), '=');
    if (filled < kWidth) b += '>';
    b.resize(kWidth, ' ');
    return "[" + b + "]";
  }

  void draw() {
    std::string out;
    if (drawn_ > 0) out += fmt::format("\033[{}A", drawn_);
    int64_t total = 0, done = 0;
    for (const auto& l : lines_) {
      total += l.size;
      done += l.done;
      out += fmt::format("\r\033[K{} {}  ", l.kind, short_digest(l.digest));
      if (l.state.empty() || l.state.starts_with("resuming"))
        out += fmt::format("{} {}/{} {}\n", bar(l.done, l.size), human_size(l.done), human_size(l.size), l.state);
      else
        out += l.state + "\n";
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    out += fmt::format("\r\033[Ktotal {}  {} {}/{}  {}/s\n", std::string(12, ' '), bar(done, total), human_size(done),
                       human_size(total), human_size(secs > 0 ? static_cast<int64_t>(done / secs) : 0));
    drawn_ = static_cast<int>(lines_.size()) + 1;
    print(out);
  }

  bool quiet_, tty_;
  std::string verb_;
  std::vector<Line> lines_;
  std::map<std::string, size_t> index_;
  int drawn_ = 0;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

Result<std::optional<registry::Credentials>> stored_credentials(std::string_view domain) {
  BERTH_TRY(auto store, registry::CredentialStore::open());
  return store.get(domain);
}

}  // namespace

Result<std::string> pull_for_build(engine::Engine& e, const std::string& name) {
  BERTH_TRY(auto ref, remote_reference(name, "pull"));
  registry::PullOptions o;
  BERTH_TRY(o.client.credentials, stored_credentials(ref.domain()));
  BERTH_TRY(auto pulled, registry::pull(e.store, ref, o));
  std::string tagged = ref.tag().empty() ? ref.to_string() : ref.with_tag(ref.tag()).to_string();
  std::vector<std::string> names;
  if (!ref.tag().empty()) names.push_back(tagged);
  BERTH_TRY(auto image, engine::register_image(e, pulled.manifest, names));
  return names.empty() ? image.id : tagged;
}

Result<std::string> pull_image(const Globals& g, const ParsedArgs& a, const std::string& image) {
  BERTH_TRY(auto ref, remote_reference(image, "pull"));
  registry::PullOptions o;
  BERTH_TRY(o.client.tls_verify, tls_verify_option(a));
  if (a.values.count("platform")) {
    BERTH_TRY(o.platform, registry::PlatformWanted::parse(a.value("platform")));
  }
  BERTH_TRY(o.client.credentials, stored_credentials(ref.domain()));
  bool quiet = a.flag("quiet");
  BERTH_TRY(auto e, open_engine(g));
  // Shared with load and import; GC and `system check` take it exclusively.
  BERTH_TRY(auto gc, state::ObjectLock::acquire(e.layout.locks(), "gc", "images", state::ObjectLock::Mode::shared));
  ProgressView view(quiet, "pulled");
  o.client.progress = [&](const BlobEvent& ev) { view.on(ev); };
  BERTH_TRY(auto pulled, registry::pull(e.store, ref, o));
  view.finish();
  std::vector<std::string> names;
  std::string name = ref.tag().empty() ? ref.to_string() : ref.with_tag(ref.tag()).to_string();
  if (!ref.tag().empty()) names.push_back(name);
  BERTH_TRY(auto image_record, engine::register_image(e, pulled.manifest, names));
  (void)image_record;
  if (!quiet) {
    print(fmt::format("Digest: {}\n", pulled.index_resolved ? pulled.index_digest : pulled.manifest.digest));
    print(fmt::format("Status: {} for {}\n",
                      pulled.downloaded > 0 ? "Downloaded newer image" : "Image is up to date", name));
  }
  return name;
}

namespace {

Result<int> cmd_pull(const Globals& g, const ParsedArgs& a) {
  if (a.positionals.size() != 1)
    return Error(ErrorKind::invalid_argument, "give one image to pull").with_hint("berth pull 127.0.0.1:5000/app:1");
  BERTH_TRY(auto name, pull_image(g, a, a.positionals[0]));
  print(name + "\n");
  return 0;
}

// Other repositories of the destination's registry that hold each blob (from the local names).
std::map<std::string, std::vector<std::string>> mount_sources(engine::Engine& e, const image::Reference& dest) {
  std::map<std::string, std::vector<std::string>> out;
  auto images = engine::list_images(e);
  if (!images) return out;
  for (const auto& img : *images) {
    std::vector<std::string> repos;
    for (const auto& tag : img.tags) {
      auto r = image::Reference::parse(tag);
      if (r && r->domain() == dest.domain() && r->path() != dest.path()) repos.push_back(r->path());
    }
    if (repos.empty()) continue;
    auto content = engine::read_image(e, img);
    if (!content) continue;
    auto add = [&](const std::string& digest) {
      auto& list = out[digest];
      for (const auto& r : repos)
        if (std::find(list.begin(), list.end(), r) == list.end()) list.push_back(r);
    };
    add(content->manifest.config.digest);
    for (const auto& l : content->manifest.layers) add(l.digest);
  }
  return out;
}

}  // namespace

Result<std::string> push_image(const Globals& g, const ParsedArgs& a, const std::string& source,
                               const std::string& destination) {
  BERTH_TRY(auto dest, remote_reference(destination, "push"));
  if (dest.tag().empty())
    return Error::make(ErrorKind::invalid_argument, "push to '{}': give a tag, not only a digest", dest.to_string());
  registry::PushOptions o;
  BERTH_TRY(o.client.tls_verify, tls_verify_option(a));
  BERTH_TRY(o.client.credentials, stored_credentials(dest.domain()));
  bool quiet = a.flag("quiet");
  BERTH_TRY(auto e, open_engine(g));
  BERTH_TRY(auto gc, state::ObjectLock::acquire(e.layout.locks(), "gc", "images", state::ObjectLock::Mode::shared));
  BERTH_TRY(auto image, engine::find_image(e, source));
  {
    BERTH_TRY(auto content, engine::read_image(e, image));
    BERTH_TRY_VOID(engine::materialize_layers(e, content));
  }
  o.mount_sources = mount_sources(e, dest);
  oci::Descriptor manifest;
  manifest.media_type = image.media_type;
  manifest.digest = image.id;
  BERTH_TRY(auto digest, image::Digest::parse(image.id));
  BERTH_TRY(manifest.size, e.store.size(digest));
  ProgressView view(quiet, "pushed");
  o.client.progress = [&](const BlobEvent& ev) { view.on(ev); };
  BERTH_TRY(auto pushed, registry::push(e.store, manifest, dest, o));
  view.finish();
  if (!quiet) print(fmt::format("{}: digest: {} size: {}\n", dest.tag(), pushed.digest, pushed.size));
  return pushed.digest;
}

namespace {

Result<int> cmd_push(const Globals& g, const ParsedArgs& a) {
  if (a.positionals.empty() || a.positionals.size() > 2)
    return Error(ErrorKind::invalid_argument, "give the image to push (and where to, if not to its own name)")
        .with_hint("berth push 127.0.0.1:5000/app:1   or   berth push app:1 127.0.0.1:5000/team/app:1");
  const std::string& source = a.positionals[0];
  const std::string& dest = a.positionals.size() == 2 ? a.positionals[1] : source;
  BERTH_TRY(auto digest, push_image(g, a, source, dest));
  (void)digest;
  if (a.flag("quiet")) {
    BERTH_TRY(auto ref, remote_reference(dest, "push"));
    print(ref.to_string() + "\n");
  }
  return 0;
}

// A line from stdin; with `secret`, the terminal does not echo it.
Result<std::string> prompt(const char* question, bool secret) {
  std::fputs(question, stderr);
  std::fflush(stderr);
  struct termios saved {};
  bool restore = secret && ::tcgetattr(0, &saved) == 0;
  if (restore) {
    struct termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(0, TCSAFLUSH, &quiet);
  }
  std::string line;
  bool ok = static_cast<bool>(std::getline(std::cin, line));
  if (restore) {
    ::tcsetattr(0, TCSAFLUSH, &saved);
    std::fputs("\n", stderr);
  }
  if (!ok) return Error::make(ErrorKind::invalid_argument, "no answer on stdin");
  return line;
}

Result<int> cmd_login(const Globals&, const ParsedArgs& a) {
  if (a.positionals.size() > 1) return Error(ErrorKind::invalid_argument, "give at most one registry");
  std::string server = server_name(a);
  BERTH_TRY(bool tls_verify, tls_verify_option(a));
  registry::Credentials c{a.value("username"), a.value("password")};
  bool from_stdin = a.flag("password-stdin");
  if (from_stdin && a.values.count("password"))
    return Error(ErrorKind::invalid_argument, "--password and --password-stdin are mutually exclusive");
  if (from_stdin) {
    if (c.username.empty())
      return Error(ErrorKind::invalid_argument, "--password-stdin needs --username")
          .with_hint(fmt::format("echo \"$PASSWORD\" | berth login -u USER --password-stdin {}", server));
    BERTH_TRY(c.password, sys::read_fd(0));
    while (!c.password.empty() && (c.password.back() == '\n' || c.password.back() == '\r')) c.password.pop_back();
  } else if (a.values.count("password")) {
    std::fputs("WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n", stderr);
  }
  bool interactive = ::isatty(0) == 1;
  if (c.username.empty()) {
    if (!interactive)
      return Error(ErrorKind::invalid_argument, "no user name: stdin is not a terminal")
          .with_hint(fmt::format("berth login -u USER --password-stdin {}", server));
    BERTH_TRY(c.username, prompt("Username: ", false));
  }
  if (c.password.empty()) {
    if (!interactive)
      return Error(ErrorKind::invalid_argument, "no password: stdin is not a terminal")
          .with_hint(fmt::format("berth login -u {} --password-stdin {}", c.username, server));
    BERTH_TRY(c.password, prompt("Password: ", true));
  }
  if (c.username.empty() || c.password.empty())
    return Error(ErrorKind::invalid_argument, "login needs a user name and a password");
  BERTH_TRY(auto store, registry::CredentialStore::open());
  BERTH_TRY_VOID(registry::login(server, c, tls_verify));
  BERTH_TRY(auto helper, store.store(server, c));
  if (!helper)
    std::fprintf(stderr,
                 "WARNING! Your password is stored unencrypted in %s.\n"
                 "Name a credential helper there (\"credsStore\": \"pass\") to keep it elsewhere: see docs/pull-push.md\n",
                 store.path().c_str());
  print("Login Succeeded\n");
  return 0;
}

Result<int> cmd_logout(const Globals&, const ParsedArgs& a) {
  if (a.positionals.size() > 1) return Error(ErrorKind::invalid_argument, "give at most one registry");
  std::string server = server_name(a);
  BERTH_TRY(auto store, registry::CredentialStore::open());
  BERTH_TRY(bool existed, store.erase(server));
  print(existed ? fmt::format("Removing login credentials for {}\n", server)
                : fmt::format("Not logged in to {}\n", server));
  return 0;
}

}  // namespace

std::vector<Command> registry_client_commands() {
  std::vector<OptionSpec> pull_options = {{"q,quiet", false, "print only the image name"},
                                          {"platform", true, "OS/ARCH[/VARIANT] to take from a multi-platform image"},
                                          {"tls-verify", true, "false: accept any certificate, and plain HTTP"}};
  std::vector<OptionSpec> push_options = {{"q,quiet", false, "print only the image name"},
                                          {"tls-verify", true, "false: accept any certificate, and plain HTTP"}};
  std::vector<OptionSpec> login_options = {{"u,username", true, "user name"},
                                           {"p,password", true, "password (prefer --password-stdin)"},
                                           {"password-stdin", false, "read the password from stdin"},
                                           {"tls-verify", true, "false: accept any certificate, and plain HTTP"}};
  return {
      {"pull", "[OPTIONS] NAME[:TAG|@DIGEST]", "Download an image from a registry", pull_options, SIZE_MAX, cmd_pull},
      {"image pull", "[OPTIONS] NAME[:TAG|@DIGEST]", "", pull_options, SIZE_MAX, cmd_pull},
      {"push", "[OPTIONS] NAME[:TAG] [DESTINATION]", "Upload an image to a registry", push_options, SIZE_MAX, cmd_push},
      {"image push", "[OPTIONS] NAME[:TAG] [DESTINATION]", "", push_options, SIZE_MAX, cmd_push},
      {"login", "[OPTIONS] [SERVER]", "Log in to a registry", login_options, SIZE_MAX, cmd_login},
      {"logout", "[SERVER]", "Log out from a registry", {}, SIZE_MAX, cmd_logout},
  };
}

}  // namespace berth::cli
