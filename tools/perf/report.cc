#include "tools/perf/report.h"

#include <fmt/format.h>

#include <string_view>

namespace sluice::perf {
namespace {

constexpr double kNsPerUs = 1000.0;

double per_second(std::uint64_t count, const Results& r) {
  return r.measured_s > 0 ? static_cast<double>(count) / r.measured_s : 0.0;
}

double us(std::uint64_t ns) { return static_cast<double>(ns) / kNsPerUs; }

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string json_histogram(const Histogram& h) {
  return fmt::format(
      R"({{"count":{},"p50":{:.1f},"p99":{:.1f},"p999":{:.1f},"max":{:.1f},"mean":{:.1f}}})",
      h.count(), us(h.percentile(50)), us(h.percentile(99)), us(h.percentile(99.9)), us(h.max()),
      h.mean() / kNsPerUs);
}

std::string json_config(const Options& o) {
  return fmt::format(
      R"({{"host":{},"port":{},"publishers":{},"consumers":{},"queues":{},"exchange":{},)"
      R"("fanout":{},"size":{},"rate":{},"confirm":{},"persistent":{},"prefetch":{},)"
      R"("auto_ack":{},"multi_ack":{},"duration_s":{},"warmup_s":{}}})",
      json_string(o.connection.host), o.connection.port, o.publishers, o.consumers, o.queues,
      json_string(o.exchange), o.fanout, o.message_size, o.rate, o.confirm_window, o.persistent,
      o.prefetch, o.auto_ack, o.multi_ack, o.duration_s, o.warmup_s);
}

std::string text_histogram(std::string_view label, const Histogram& h) {
  if (h.count() == 0) return fmt::format("{:<14}none measured\n", label);
  return fmt::format("{:<14}p50 {:.1f} us   p99 {:.1f} us   p99.9 {:.1f} us   max {:.1f} us\n",
                     label, us(h.percentile(50)), us(h.percentile(99)), us(h.percentile(99.9)),
                     us(h.max()));
}

std::string describe(const Options& o) {
  std::string rate = o.rate > 0 ? fmt::format("{:.0f} msg/s", o.rate) : "unlimited rate";
  std::string confirms =
      o.confirm_window > 0 ? fmt::format(", confirms {}", o.confirm_window) : std::string();
  return fmt::format(
      "{}:{}, {} publisher(s), {} consumer(s), {} queue(s){}, {} B{}, {}{}, {:g} s (+{:g} s "
      "warmup)",
      o.connection.host, o.connection.port, o.publishers, o.consumers, o.queues,
      o.fanout > 0 ? " on a fanout" : "", o.message_size, o.persistent ? " persistent" : "", rate,
      confirms, o.duration_s, o.warmup_s);
}

}  // namespace

std::string format_text(const Options& o, const Results& r) {
  std::string out = "sluice-perf: " + describe(o) + "\n";
  out += fmt::format("{:<14}{:.0f} msg/s\n", "published", per_second(r.published, r));
  out += fmt::format("{:<14}{:.0f} msg/s\n", "consumed", per_second(r.consumed, r));
  if (o.confirm_window > 0) {
    out += fmt::format("{:<14}{:.0f} msg/s", "confirmed", per_second(r.confirmed, r));
    out += r.nacked > 0 ? fmt::format(" ({} nacked)\n", r.nacked) : "\n";
  }
  out += text_histogram("latency", r.latency);
  if (o.confirm_window > 0) out += text_histogram("confirm lat.", r.confirm_latency);
  if (r.unstamped > 0) out += fmt::format("{:<14}{}\n", "unstamped", r.unstamped);
  if (r.out_of_order > 0) {
    out += fmt::format("{:<14}{} (duplicate or reordered deliveries)\n", "out of order",
                       r.out_of_order);
  }
  if (r.stale > 0) {
    out += fmt::format("{:<14}{} (from an earlier run; not counted)\n", "stale", r.stale);
  }
  out += fmt::format("{:<14}{}\n", "left queued", r.left_in_queues);
  const std::uint64_t handled = r.published + r.consumed;
  out += fmt::format("{:<14}{:.2f} s ({:.0f}% of one core{})\n", "tool cpu", r.tool_cpu_s,
                     100.0 * r.tool_cpu_s / r.measured_s,
                     handled > 0 ? fmt::format(", {:.0f} ns per message sent or received",
                                               1e9 * r.tool_cpu_s / static_cast<double>(handled))
                                 : std::string());
  return out;
}

std::string format_json(const Options& o, const Results& r) {
  return fmt::format(
      R"({{"published_per_s":{:.1f},"consumed_per_s":{:.1f},"confirmed_per_s":{:.1f},)"
      R"("published":{},"consumed":{},"confirmed":{},"nacked":{},"unstamped":{},"stale":{},)"
      R"("out_of_order":{},)"
      R"("left_in_queues":{},"measured_s":{},"tool_cpu_s":{:.3f},)"
      R"("latency_us":{},"confirm_latency_us":{},"config":{}}})"
      "\n",
      per_second(r.published, r), per_second(r.consumed, r), per_second(r.confirmed, r),
      r.published, r.consumed, r.confirmed, r.nacked, r.unstamped, r.stale, r.out_of_order,
      r.left_in_queues, r.measured_s, r.tool_cpu_s, json_histogram(r.latency),
      json_histogram(r.confirm_latency), json_config(o));
}

}  // namespace sluice::perf
