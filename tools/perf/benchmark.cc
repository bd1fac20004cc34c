#include "tools/perf/benchmark.h"

#include <fmt/format.h>
#include <sys/resource.h>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tools/perf/consumer.h"
#include "tools/perf/publisher.h"
#include "tools/perf/run_control.h"

namespace sluice::perf {
namespace {

constexpr std::uint16_t kNotFound = 404;
constexpr auto kProgressInterval = std::chrono::seconds(1);

ConnectionParams named(const Options& o, const std::string& name) {
  ConnectionParams params = o.connection;
  params.connection_name = name;
  return params;
}

std::string routing_key_for(const Options& o, int queue) {
  return o.fanout > 0 ? std::string() : o.queue_name(queue);
}

// Declares the exchange and queues, removing leftovers of an interrupted run first so their
// messages do not count and their durability cannot clash with ours.
void declare_topology(const Options& o, AmqpClient& client) {
  if (!o.exchange.empty()) {
    client.declare_exchange(o.exchange, o.fanout > 0 ? "fanout" : "direct", o.persistent);
  }
  for (int q = 0; q < o.queues; ++q) {
    const std::string name = o.queue_name(q);
    try {
      client.delete_queue(name);
    } catch (const AmqpError& e) {
      // RabbitMQ deletes a missing queue happily; a broker that answers 404 closes the channel.
      if (e.reply_code() != kNotFound) throw;
      client.reopen_channel();
    }
    client.declare_queue(name, o.persistent);
    if (!o.exchange.empty()) client.bind_queue(name, o.exchange, routing_key_for(o, q));
  }
}

// Best effort: a failure here is reported but does not hide the results.
std::uint64_t delete_topology(const Options& o, AmqpClient& client) {
  std::uint64_t left = 0;
  try {
    for (int q = 0; q < o.queues; ++q) left += client.delete_queue(o.queue_name(q));
    if (!o.exchange.empty()) client.delete_exchange(o.exchange);
  } catch (const std::exception& e) {
    fmt::print(stderr, "sluice-perf: teardown: {}\n", e.what());
  }
  return left;
}

double cpu_seconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& tv) { return tv.tv_sec + tv.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// The workers' shared state and their threads, for one run.
class Workers {
 public:
  explicit Workers(const Options& o)
      : options_(o),
        control_(
            o.publishers + o.consumers,
            std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.warmup_s)),
            std::chrono::duration_cast<Clock::duration>(
                std::chrono::duration<double>(o.duration_s))),
        publisher_stats_(static_cast<std::size_t>(o.publishers)),
        consumer_stats_(static_cast<std::size_t>(o.consumers)) {}

  void start();
  // Waits for the window to end (printing progress), then joins every thread. Returns the CPU
  // time the process used within the measured window.
  double wait();
  Results collect() const;
  // The first worker error, or "" when all went well.
  std::string first_error() const;

 private:
  void print_progress(double elapsed_s, std::uint64_t& last_sent, std::uint64_t& last_received);

  const Options& options_;
  RunControl control_;
  std::vector<PublisherConfig> publisher_configs_;
  std::vector<ConsumerConfig> consumer_configs_;
  std::vector<PublisherStats> publisher_stats_;
  std::vector<ConsumerStats> consumer_stats_;
  std::vector<std::jthread> threads_;
};

void Workers::start() {
  const Options& o = options_;
  for (int i = 0; i < o.consumers; ++i) {
    ConsumerConfig c;
    c.connection = named(o, fmt::format("sluice-perf consumer {}", i));
    c.queue = o.queue_name(i % o.queues);
    c.prefetch = o.prefetch;
    c.auto_ack = o.auto_ack;
    c.ack_every = o.multi_ack;
    consumer_configs_.push_back(std::move(c));
  }
  for (int i = 0; i < o.publishers; ++i) {
    PublisherConfig p;
    p.connection = named(o, fmt::format("sluice-perf publisher {}", i));
    p.id = static_cast<std::uint32_t>(i);
    p.exchange = o.exchange;
    p.routing_key = routing_key_for(o, i % o.queues);
    p.message_size = o.message_size;
    p.rate = o.rate / o.publishers;
    p.confirm_window = o.confirm_window;
    p.persistent = o.persistent;
    publisher_configs_.push_back(std::move(p));
  }
  // Configs are complete before any thread starts, so the references below stay valid.
  for (std::size_t i = 0; i < consumer_configs_.size(); ++i) {
    threads_.emplace_back(run_consumer, std::cref(consumer_configs_[i]), std::ref(control_),
                          std::ref(consumer_stats_[i]));
  }
  for (std::size_t i = 0; i < publisher_configs_.size(); ++i) {
    threads_.emplace_back(run_publisher, std::cref(publisher_configs_[i]), std::ref(control_),
                          std::ref(publisher_stats_[i]));
  }
}

double Workers::wait() {
  // The gate opens once every worker has connected; each connect is bounded by kRpcTimeout.
  std::optional<Window> window;
  while (!control_.aborted() && !(window = control_.window())) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  double cpu_at_start = 0;
  double cpu_at_end = 0;
  if (window) {
    std::uint64_t last_sent = 0;
    std::uint64_t last_received = 0;
    bool measuring = false;
    auto next_tick = window->start + kProgressInterval;
    while (!control_.aborted()) {
      const auto wake =
          std::min({next_tick, window->end, measuring ? window->end : window->measure_from});
      std::this_thread::sleep_until(wake);
      if (!measuring && Clock::now() >= window->measure_from) {
        measuring = true;
        cpu_at_start = cpu_seconds();
      }
      if (Clock::now() >= window->end) break;
      if (Clock::now() >= next_tick) {
        const std::chrono::duration<double> elapsed = next_tick - window->start;
        print_progress(elapsed.count(), last_sent, last_received);
        next_tick += kProgressInterval;
      }
    }
    cpu_at_end = cpu_seconds();
  }
  for (auto& t : threads_) t.join();
  return std::max(0.0, cpu_at_end - cpu_at_start);
}

void Workers::print_progress(double elapsed_s, std::uint64_t& last_sent,
                             std::uint64_t& last_received) {
  std::uint64_t sent = 0;
  std::uint64_t received = 0;
  for (const auto& s : publisher_stats_) sent += s.sent_total.load(std::memory_order_relaxed);
  for (const auto& s : consumer_stats_)
    received += s.received_total.load(std::memory_order_relaxed);
  if (!options_.quiet) {
    fmt::print(stderr, "[{:5.0f}s] sent {:>9} msg/s   received {:>9} msg/s\n", elapsed_s,
               sent - last_sent, received - last_received);
  }
  last_sent = sent;
  last_received = received;
}

Results Workers::collect() const {
  Results r;
  r.measured_s = options_.duration_s;
  for (const auto& s : publisher_stats_) {
    r.published += s.published;
    r.confirmed += s.confirmed;
    r.nacked += s.nacked;
    r.confirm_latency.merge(s.confirm_latency);
  }
  for (const auto& s : consumer_stats_) {
    r.consumed += s.consumed;
    r.unstamped += s.unstamped;
    r.stale += s.stale;
    r.out_of_order += s.out_of_order;
    r.latency.merge(s.latency);
  }
  return r;
}

std::string Workers::first_error() const {
  for (std::size_t i = 0; i < publisher_stats_.size(); ++i) {
    if (!publisher_stats_[i].error.empty()) {
      return fmt::format("publisher {}: {}", i, publisher_stats_[i].error);
    }
  }
  for (std::size_t i = 0; i < consumer_stats_.size(); ++i) {
    if (!consumer_stats_[i].error.empty()) {
      return fmt::format("consumer {}: {}", i, consumer_stats_[i].error);
    }
  }
  return {};
}

}  // namespace

Results run_benchmark(const Options& options) {
  AmqpClient setup = AmqpClient::connect(named(options, "sluice-perf setup"));
  declare_topology(options, setup);

  Workers workers(options);
  workers.start();
  const double cpu = workers.wait();

  Results results = workers.collect();
  results.tool_cpu_s = cpu;
  results.left_in_queues = delete_topology(options, setup);
  setup.close();
  if (const std::string error = workers.first_error(); !error.empty()) {
    throw std::runtime_error(error);
  }
  return results;
}

}  // namespace sluice::perf
