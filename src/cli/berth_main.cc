// berth — the user-facing CLI. `berth runtime ARGS...` execs the OCI runtime installed beside it.
#include <limits.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace {

std::string sibling(const char* name) {
  char self[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return name;
  self[n] = '\0';
  std::string dir(self);
  dir.resize(dir.rfind('/') + 1);
  return dir + name;
}

int usage(FILE* out) {
  std::fputs(
      "Usage: berth COMMAND [OPTIONS]\n\n"
      "Commands:\n"
      "  runtime   The OCI runtime (runc/crun command line); see `berth runtime --help`\n"
      "  version   Show berth's version\n",
      out);
  return out == stdout ? 0 : 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage(stderr);
  std::string command = argv[1];
  if (command == "-h" || command == "--help" || command == "help") return usage(stdout);
  if (command == "version" || command == "--version") {
    std::printf("berth version %s\n", BERTH_VERSION);
    return 0;
  }
  if (command == "runtime") {
    std::string runtime = sibling("berth-runtime");
    std::vector<char*> args{const_cast<char*>("berth-runtime")};
    for (int i = 2; i < argc; ++i) args.push_back(argv[i]);
    args.push_back(nullptr);
    ::execv(runtime.c_str(), args.data());
    std::fprintf(stderr, "berth: run '%s': %s\n", runtime.c_str(), std::strerror(errno));
    return 127;
  }
  std::fprintf(stderr, "berth: unknown command '%s'\nRun 'berth --help' for the list of commands.\n",
               command.c_str());
  return 2;
}
