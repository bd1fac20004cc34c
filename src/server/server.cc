#include "server/server.h"

#include <chrono>
#include <thread>

#include <asio/post.hpp>

#include "common/logging.h"
#include "net/stream.h"

namespace sluice::server {
namespace {

spdlog::logger& logger() {
  static const auto instance = log::get("server");
  return *instance;
}

amqp::Limits amqp_limits(const config::Config& c) {
  amqp::Limits limits;
  limits.channel_max = static_cast<std::uint16_t>(c.channel_max);
  limits.frame_max = c.frame_max;
  limits.heartbeat_seconds = static_cast<std::uint16_t>(c.heartbeat);
  limits.handshake_timeout = std::chrono::seconds(c.handshake_timeout);
  limits.max_message_size = c.max_message_size;
  return limits;
}

// The broker's state is owned by one event loop, and AMQP connections run on that loop too,
// so a publish is routed and delivered without crossing threads. docs/architecture.md says
// why, and how queues would be spread over more loops.
constexpr std::size_t kBrokerLoops = 1;

}  // namespace

Server::Server(config::Config config)
    : config_(std::move(config)),
      pool_(kBrokerLoops),
      access_(config_.default_user, config_.default_pass) {
  amqp_context_.limits = amqp_limits(config_);
  amqp_context_.access = &access_;
  amqp_context_.registry = &registry_;
  amqp_context_.broker = &broker_;
  broker::Queue::set_resident_limit(config_.queue_resident_messages);
}

Server::~Server() { stop(); }

Result<void> Server::start() {
  logger().info("starting sluice {} pid={}", SLUICE_VERSION, ::getpid());
  if (!config_.config_file.empty()) logger().info("config file {}", config_.config_file);
  if (auto opened = data_dir_.open(config_.data_dir); !opened) return opened;
  logger().info("data directory {}", data_dir_.path());
  if (auto restored = restore_definitions(); !restored) return restored;
  if (auto recovered = recover_messages(); !recovered) return recovered;
  logger().info("limits {}", config::describe_limits(config_));

  amqp_listener_ = std::make_unique<net::Listener>("amqp", pool_);
  if (auto opened = amqp_listener_->open(config_.bind, config_.amqp_port); !opened) {
    return opened;
  }
  amqp_listener_->start([this](asio::ip::tcp::socket s) { on_accept(std::move(s)); });
  logger().info("listening for amqp on {}", net::to_string(amqp_listener_->local_endpoint()));
  // TODO: the management HTTP API, UI and Prometheus endpoint are their own work item; the
  // port is validated now so configurations written today keep working.
  logger().info("management http api on port {} is not available in this version",
                config_.http_port);

  const std::uint64_t memory_limit =
      config_.memory_limit != 0
          ? config_.memory_limit
          : ResourceMonitor::memory_limit_from_fraction(config_.memory_high_watermark);
  monitor_ = std::make_unique<ResourceMonitor>(pool_.loop(0), broker_, registry_,
                                               data_dir_.path(), memory_limit,
                                               config_.disk_free_limit);
  asio::post(pool_.loop(0), [this] { monitor_->start(); });
  logger().info("alarms memory_limit={} disk_free_limit={}", memory_limit,
                config_.disk_free_limit);

  pool_.start();
  running_ = true;
  logger().info("server ready");
  return ok();
}

Result<void> Server::restore_definitions() {
  auto opened = DurableDefinitions::open(data_dir_.path());
  if (!opened) return opened.error();
  definitions_ = std::move(*opened);
  auto stats = definitions_->restore(broker_);
  if (!stats) return stats.error();
  logger().info("restored durable definitions exchanges={} queues={} bindings={} skipped={}",
                stats->exchanges, stats->queues, stats->bindings, stats->skipped);
  stored_queue_ids_ = std::move(stats->stored_queue_ids);
  return ok();
}

// Opens the message log and puts every recovered message back in its queue. The log's sync
// thread reports durable Lsns; they are handed to the broker loop, which releases confirms.
Result<void> Server::recover_messages() {
  store::MessageLogOptions options;
  options.on_durable = [this](store::Lsn lsn) {
    asio::post(pool_.loop(0), [this, lsn] {
      broker_.durable_upto(lsn);
      resume_if_log_caught_up();
    });
  };
  options.on_failure = [this](const Error& error) {
    // Confirms stop here: nothing later can be promised durable.
    log::get("store")->critical("message log failed, no further publisher confirms: {}; "
                                "restart the broker once the disk is fixed",
                                error.detail);
    // Publishers held for the log to catch up would wait for ever: let them go on, to
    // publish what needs no disk or to be refused.
    asio::post(pool_.loop(0), [this] { resume_if_log_caught_up(); });
  };
  message_log_ = std::make_unique<store::MessageLog>(std::move(options));
  auto recovered = message_log_->open(data_dir_.path());
  if (!recovered) return recovered.error();

  broker::VirtualHost* vhost = broker_.vhost("/");
  std::size_t restored = 0;
  std::size_t orphaned = 0;
  for (auto& [queue_id, messages] : recovered->queues) {
    auto queue = vhost->find_queue_by_store_id(queue_id);
    if (!queue && stored_queue_ids_.contains(queue_id)) {
      // Defined but not restored (logged above): its messages stay on disk for the next start.
      logger().error("keeping {} message(s) of queue id {} on disk: the queue could not be "
                     "restored",
                     messages.messages, queue_id);
      continue;
    }
    if (!queue) {
      // The queue was deleted but its purge record was lost (a crash): purge again, so the
      // segments are not pinned for ever.
      orphaned += messages.messages;
      std::vector<store::SegmentRefs> held;
      for (const auto& run : messages.runs) held.push_back({run.segment, run.offsets.size()});
      if (auto r = message_log_->append_purge(queue_id, held); !r) return r.error();
      continue;
    }
    // Recovered messages stay on disk until delivered: recovery reads no bodies.
    restored += messages.messages;
    queue->restore(std::move(messages.runs), messages.delivered_before,
                   messages.delivered_upto);
  }
  broker_.resume_message_ids_after(recovered->max_message_id);
  broker_.set_message_log(message_log_.get());
  for (const auto& [name, q] : vhost->queues()) q->attach_log(message_log_.get());
  logger().info("recovered messages={} orphaned={} (of queues no longer defined)", restored,
                orphaned);
  return ok();
}

// Publishers held by write-behind flow control go on once the log no longer holds them.
void Server::resume_if_log_caught_up() {
  if (!broker_.log_caught_up()) return;
  for (auto& c : registry_.snapshot()) c->resume_publishing();
}

void Server::on_accept(asio::ip::tcp::socket socket) {
  const auto id = next_connection_id_.fetch_add(1, std::memory_order_relaxed);
  auto connection = std::make_shared<amqp::Connection>(net::make_tcp_stream(std::move(socket)),
                                                       amqp_context_, id);
  connection->start();
}

void Server::stop() {
  if (!running_) return;
  running_ = false;
  amqp_listener_->close();
  asio::post(pool_.loop(0), [this] { monitor_->stop(); });

  auto connections = registry_.snapshot();
  logger().info("shutting down, closing {} client connection(s)", connections.size());
  for (auto& c : connections) c->shutdown("shutdown");
  connections.clear();

  // Give clients the close timeout to answer close-ok, then stop regardless.
  const auto deadline = std::chrono::steady_clock::now() + amqp_context_.limits.close_timeout +
                        std::chrono::milliseconds(500);
  while (registry_.size() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (const auto left = registry_.size(); left > 0) {
    logger().warn("{} connection(s) did not close in time; dropping them", left);
  }
  pool_.stop();
  if (message_log_) {
    // The loop is stopped: broker state is ours. Say how far each durable queue delivered, so
    // that the next start marks only those messages redelivered (after a crash, all).
    std::vector<store::DeliveredRecord> delivered;
    for (const auto& [name, q] : broker_.vhost("/")->queues()) {
      if (q->stores_messages() && q->delivered_upto() != 0) {
        delivered.push_back({q->settings().store_id, q->delivered_upto()});
      }
    }
    if (auto marked = message_log_->append_clean_stop(delivered); !marked) {
      logger().warn("cannot mark the clean stop; the next start marks every recovered message "
                    "redelivered: {}",
                    marked.error().detail);
    }
    if (auto closed = message_log_->close(); !closed) {
      logger().error("closing the message log failed: {}", closed.error().detail);
    }
    const store::LogStats st = message_log_->stats();
    logger().info("message log messages_synced={} syncs={} messages_per_sync={:.1f}",
                  st.messages_synced, st.syncs, st.messages_per_sync());
  }
  logger().info("stopped");
}

}  // namespace sluice::server
