#include "tools/perf/options.h"

#include <CLI/CLI.hpp>
#include <iostream>
#include <stdexcept>

#include "tools/perf/amqp_uri.h"
#include "tools/perf/message_stamp.h"

namespace sluice::perf {
namespace {

constexpr const char* kFanoutExchange = "sluice-perf-fanout";

// Cross-option rules CLI11 cannot express; throws CLI::ValidationError.
void validate(Options& o) {
  if (o.fanout > 0) {
    if (o.exchange.empty()) o.exchange = kFanoutExchange;
    o.queues = o.fanout;
    o.consumers = o.fanout;
  }
  if (o.message_size < kStampSize) {
    throw CLI::ValidationError("--size",
                               "must be at least 16: every body carries a send "
                               "timestamp, publisher id and sequence number");
  }
  if (!o.auto_ack && o.prefetch > 0 && o.multi_ack > o.prefetch) {
    throw CLI::ValidationError("--multi-ack", "must not exceed --prefetch, or consumers stall");
  }
  if (o.publishers == 0 && o.consumers == 0) {
    throw CLI::ValidationError("--publishers", "need at least one publisher or consumer");
  }
}

}  // namespace

std::optional<Options> parse_options(int argc, const char* const* argv, int& exit_code) {
  Options o;
  CLI::App app{"sluice-perf: AMQP 0-9-1 load generator for Sluice and RabbitMQ"};
  std::string uri;

  app.add_option("--uri", uri, "amqp://user:password@host:port/vhost (overrides the below)");
  app.add_option("--host", o.connection.host, "Broker host")->capture_default_str();
  app.add_option("--port", o.connection.port, "Broker AMQP port")->capture_default_str();
  app.add_option("--user", o.connection.user, "User name")->capture_default_str();
  app.add_option("--password", o.connection.password, "Password")->capture_default_str();
  app.add_option("--vhost", o.connection.vhost, "Virtual host")->capture_default_str();

  app.add_option("--publishers,-x", o.publishers, "Publishers, one connection and thread each")
      ->check(CLI::Range(0, 1000))
      ->capture_default_str();
  app.add_option("--consumers,-y", o.consumers, "Consumers, one connection and thread each")
      ->check(CLI::Range(0, 1000))
      ->capture_default_str();
  app.add_option("--queues,-q", o.queues, "Queues; publisher i and consumer i use queue i mod N")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();
  app.add_option("--queue-prefix", o.queue_prefix, "Queues are named PREFIX0..PREFIX(N-1)")
      ->capture_default_str();
  app.add_option("--exchange,-e", o.exchange,
                 "Publish through this direct exchange (declared, queues bound by name); "
                 "empty = the default exchange");
  app.add_option("--fanout", o.fanout,
                 "Declare a fanout exchange bound to N queues with one consumer each "
                 "(sets --queues and --consumers)")
      ->check(CLI::Range(1, 10000));
  app.add_option("--size,-s", o.message_size, "Message body bytes (at least 16)")
      ->check(CLI::Range(std::size_t{0}, std::size_t{64} << 20))
      ->capture_default_str();
  app.add_option("--rate,-r", o.rate, "Total publish rate limit, msg/s; 0 = unlimited")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--confirm,-c", o.confirm_window,
                 "Publisher confirms with at most N unconfirmed per publisher; 0 = off")
      ->check(CLI::Range(0u, 1u << 20))
      ->capture_default_str();
  app.add_flag("--persistent", o.persistent, "Delivery mode 2 and durable queues (and exchange)");
  app.add_option("--prefetch", o.prefetch, "Consumer basic.qos prefetch count; 0 = no qos")
      ->capture_default_str();
  app.add_flag("--auto-ack,-a", o.auto_ack, "Consume with no-ack instead of manual acks");
  app.add_option("--multi-ack", o.multi_ack, "Manual acks: one ack (multiple) every N deliveries")
      ->check(CLI::Range(1u, 1u << 20))
      ->capture_default_str();
  app.add_option("--duration,-z", o.duration_s, "Measured seconds (after the warmup)")
      ->check(CLI::Range(0.1, 86400.0))
      ->capture_default_str();
  app.add_option("--warmup", o.warmup_s, "Seconds of load before measuring starts")
      ->check(CLI::Range(0.0, 3600.0))
      ->capture_default_str();
  app.add_flag("--json", o.json, "Print the summary as one JSON object");
  app.add_flag("--quiet", o.quiet, "No per-second progress lines on stderr");

  try {
    app.parse(argc, argv);
    if (!uri.empty()) o.connection = parse_amqp_uri(uri, o.connection);
    validate(o);
  } catch (const CLI::ParseError& e) {
    exit_code = app.exit(e);
    return std::nullopt;
  } catch (const std::invalid_argument& e) {
    std::cerr << "sluice-perf: " << e.what() << "\n";
    exit_code = 2;
    return std::nullopt;
  }
  return o;
}

}  // namespace sluice::perf
