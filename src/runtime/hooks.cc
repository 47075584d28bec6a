#include "runtime/detail/hooks.h"

#include <nlohmann/json.hpp>

#include "base/log.h"
#include "base/process.h"

namespace berth::runtime {

Result<void> run_hooks(const std::vector<oci::Hook>& hooks, std::string_view phase,
                       const std::string& state_json) {
  if (hooks.empty()) return {};
  // Hooks run in the bundle directory, as under runc and crun (scripts use relative paths).
  auto state = nlohmann::json::parse(state_json, nullptr, false);
  std::string bundle;
  if (state.is_object() && state.contains("bundle") && state["bundle"].is_string())
    bundle = state["bundle"].get<std::string>();
  for (size_t i = 0; i < hooks.size(); ++i) {
    const auto& hook = hooks[i];
    proc::RunOptions options{hook.path, hook.args, hook.env, state_json, hook.timeout};
    options.cwd = bundle;
    auto code = proc::run(options);
    if (!code) return std::move(code).error().context(fmt::format("{} hook #{} '{}'", phase, i, hook.path));
    if (*code != 0)
      return Error::make(ErrorKind::failed_precondition, "{} hook #{} '{}' exited with status {}",
                         phase, i, hook.path, *code);
  }
  return {};
}

void run_hooks_warn(const std::vector<oci::Hook>& hooks, std::string_view phase,
                    const std::string& state_json) {
  if (auto r = run_hooks(hooks, phase, state_json); !r) log::warn(r.error().message());
}

}  // namespace berth::runtime
