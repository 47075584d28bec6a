// go_template: docker's `--format` Go templates (cli/template/): parsed, then run on a container
// as `berth inspect` shows it, and with the table-header context.
#include <nlohmann/json.hpp>

#include "cli/template/format.h"
#include "cli/template/template.h"
#include "fuzz_util.h"

namespace {
const nlohmann::json& dot() {
  static const nlohmann::json value = nlohmann::json::parse(R"({
  "Id": "4f1c", "Name": "/web", "RestartCount": 0, "Ratio": 0.5,
  "State": {"Status": "running", "Running": true, "Pid": 42, "ExitCode": 0},
  "Config": {"Cmd": ["echo", "hi"], "Env": [], "Labels": {"com.example.tier": "front", "owner": "ops"}},
  "NetworkSettings": {"Networks": {"bridge": {"IPAddress": "10.0.0.2"}, "back": {"IPAddress": "10.1.0.2"}}},
  "Mounts": null
})");
  return value;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace berth;
  std::string_view text = fuzz::as_text(data, size);
  auto parsed = cli::tmpl::Template::parse(text);
  if (!parsed) return 0;
  cli::tmpl::Context context;
  context.name = "inspect";
  // The default budget lets one input run for seconds; a small one reaches the same code.
  context.max_steps = 20'000;
  context.max_text = 64 << 10;
  context.fields = {"Id", "Name", "State", "Config"};
  context.methods["Label"] = [](const std::vector<nlohmann::json>& args)
      -> Result<nlohmann::json> { return args.empty() ? nlohmann::json() : args[0]; };
  if (auto out = parsed->execute(dot(), context)) (void)cli::tmpl::align_columns(*out);
  context.header = true;
  (void)parsed->execute(dot(), context);
  (void)cli::tmpl::is_template(text);
  return 0;
}
