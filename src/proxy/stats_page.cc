// The stats listener's HTML page (in HAProxy's spirit: a table per route, a row per backend)
// and its Prometheus text.
#include "proxy/detail/core.h"

namespace berth::proxy::detail {

namespace {

std::string esc(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '<')
      out += "&lt;";
    else if (c == '>')
      out += "&gt;";
    else if (c == '&')
      out += "&amp;";
    else if (c == '"')
      out += "&quot;";
    else
      out += c;
  }
  return out;
}

// A Prometheus label value.
std::string lbl(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

std::string ms(int64_t micros) { return fmt::format("{:.2f}", static_cast<double>(micros) / 1000); }

}  // namespace

std::string stats_html(Core& core) {
  const int64_t now = now_ms();
  std::string h;
  h += "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>berth proxy stats</title>\n"
       "<meta http-equiv=\"refresh\" content=\"5\">\n<style>body{font-family:sans-serif;"
       "font-size:13px}table{border-collapse:collapse;margin-bottom:1.5em}th,td{border:1px solid "
       "#999;padding:2px 6px;text-align:right}th{background:#ddd}td.l{text-align:left}"
       "tr.up{background:#cfc}tr.down,tr.down-passive,tr.bad-address{background:#fcc}"
       "tr.draining{background:#ccf}tr.starting{background:#ffc}caption{text-align:left;"
       "font-weight:bold;font-size:15px}</style></head><body>\n";
  h += fmt::format("<h1>berth proxy</h1><p>uptime {} s, table generation {}, {} connections</p>\n",
                   (now - core.started_ms) / 1000, core.table->table.generation,
                   core.total_connections);
  h += "<table><caption>Frontends</caption><tr><th>name</th><th>address</th><th>tls</th>"
       "<th>sessions cur</th><th>max</th><th>total</th><th>requests</th><th>req/s</th>"
       "<th>4xx</th><th>5xx</th></tr>\n";
  for (const auto& f : core.frontends) {
    h += fmt::format(
        "<tr><td class=l>{}</td><td class=l>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
        "<td>{}</td><td>{:.1f}</td><td>{}</td><td>{}</td></tr>\n",
        esc(f->name), esc(f->address), f->tls ? "yes" : "no", f->current, f->max_current,
        f->connections, f->counters.requests, f->counters.rate, f->counters.status[4],
        f->counters.status[5]);
  }
  h += "</table>\n";
  for (const auto& lr : core.table->routes) {
    const Route& r = *lr.route;
    std::string match;
    for (const auto& host : r.match.hosts) match += host + " ";
    match += r.match.path_prefix + r.match.path_glob;
    h += fmt::format(
        "<table><caption>{} ({}{}{}) — {} — {} requests, {:.1f}/s, {} without backend, p50 {} "
        "ms, p99 {} ms</caption>\n<tr><th>backend</th><th>address</th><th>state</th>"
        "<th>weight</th><th>in flight</th><th>max</th><th>requests</th><th>req/s</th><th>2xx</th>"
        "<th>3xx</th><th>4xx</th><th>5xx</th><th>conn err</th><th>resp err</th><th>retries</th>"
        "<th>p50 ms</th><th>p90 ms</th><th>p99 ms</th><th>last check</th><th>last error</th>"
        "</tr>\n",
        esc(r.service), r.mode == Mode::tcp ? "tcp" : "http", match.empty() ? "" : " ", esc(match),
        r.entrypoint.empty() ? "every entrypoint" : esc(r.entrypoint), lr.stats->counters.requests,
        lr.stats->counters.rate, lr.stats->no_backend, ms(lr.stats->times.percentile(0.5)),
        ms(lr.stats->times.percentile(0.99)));
    for (const auto& b : lr.backends) {
      const auto& c = b->counters;
      const char* state = b->state(now);
      h += fmt::format(
          "<tr class=\"{}\"><td class=l>{}</td><td class=l>{}</td><td class=l>{}</td><td>{}</td>"
          "<td>{}</td><td>{}</td><td>{}</td><td>{:.1f}</td><td>{}</td><td>{}</td><td>{}</td>"
          "<td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
          "<td class=l>{}</td><td class=l>{}</td></tr>\n",
          state, esc(b->name), esc(b->address), state, b->weight, b->in_flight, b->max_in_flight,
          c.requests, c.rate, c.status[2], c.status[3], c.status[4], c.status[5], c.connect_errors,
          c.response_errors, c.retries, ms(b->times.percentile(0.5)), ms(b->times.percentile(0.9)),
          ms(b->times.percentile(0.99)), esc(b->last_check), esc(b->last_error));
    }
    h += "</table>\n";
  }
  h += "<p><a href=\"/stats.json\">JSON</a> · <a href=\"/metrics\">Prometheus</a></p>"
       "</body></html>\n";
  return h;
}

std::string metrics_text(Core& core) {
  const int64_t now = now_ms();
  std::string m;
  auto out = [&m](std::string_view line) { m.append(line).push_back('\n'); };
  out("# TYPE berth_proxy_frontend_connections_total counter");
  out("# TYPE berth_proxy_frontend_current_connections gauge");
  out("# TYPE berth_proxy_frontend_requests_total counter");
  for (const auto& f : core.frontends) {
    const std::string l = fmt::format("frontend=\"{}\"", lbl(f->name));
    out(fmt::format("berth_proxy_frontend_connections_total{{{}}} {}", l, f->connections));
    out(fmt::format("berth_proxy_frontend_current_connections{{{}}} {}", l, f->current));
    out(fmt::format("berth_proxy_frontend_requests_total{{{}}} {}", l, f->counters.requests));
  }
  out("# TYPE berth_proxy_route_requests_total counter");
  out("# TYPE berth_proxy_route_no_backend_total counter");
  out("# TYPE berth_proxy_backend_up gauge");
  out("# TYPE berth_proxy_backend_in_flight gauge");
  out("# TYPE berth_proxy_backend_requests_total counter");
  out("# TYPE berth_proxy_backend_responses_total counter");
  out("# TYPE berth_proxy_backend_connect_errors_total counter");
  out("# TYPE berth_proxy_backend_response_errors_total counter");
  out("# TYPE berth_proxy_backend_retries_total counter");
  out("# TYPE berth_proxy_backend_response_time_seconds summary");
  for (const auto& lr : core.table->routes) {
    const std::string rl = fmt::format("service=\"{}\"", lbl(lr.route->service));
    out(fmt::format("berth_proxy_route_requests_total{{{}}} {}", rl, lr.stats->counters.requests));
    out(fmt::format("berth_proxy_route_no_backend_total{{{}}} {}", rl, lr.stats->no_backend));
    for (const auto& b : lr.backends) {
      const std::string l =
          fmt::format("{},backend=\"{}\",address=\"{}\"", rl, lbl(b->name), lbl(b->address));
      const auto& c = b->counters;
      out(fmt::format("berth_proxy_backend_up{{{},state=\"{}\"}} {}", l, b->state(now),
                      b->eligible(now) ? 1 : 0));
      out(fmt::format("berth_proxy_backend_in_flight{{{}}} {}", l, b->in_flight));
      out(fmt::format("berth_proxy_backend_requests_total{{{}}} {}", l, c.requests));
      for (int k = 1; k <= 5; ++k) {
        out(fmt::format("berth_proxy_backend_responses_total{{{},code=\"{}xx\"}} {}", l, k,
                        c.status[static_cast<size_t>(k)]));
      }
      out(fmt::format("berth_proxy_backend_connect_errors_total{{{}}} {}", l, c.connect_errors));
      out(fmt::format("berth_proxy_backend_response_errors_total{{{}}} {}", l, c.response_errors));
      out(fmt::format("berth_proxy_backend_retries_total{{{}}} {}", l, c.retries));
      for (double q : {0.5, 0.9, 0.99}) {
        out(fmt::format("berth_proxy_backend_response_time_seconds{{{},quantile=\"{}\"}} {:.6f}", l,
                        q, static_cast<double>(b->times.percentile(q)) / 1e6));
      }
      out(fmt::format("berth_proxy_backend_response_time_seconds_count{{{}}} {}", l,
                      b->times.count()));
    }
  }
  return m;
}

}  // namespace berth::proxy::detail
