#include "tools/perf/consumer.h"

#include <algorithm>
#include <optional>
#include <vector>

#include "amqp/properties.h"
#include "tools/perf/message_stamp.h"

namespace sluice::perf {
namespace {

namespace m = amqp::method;

// How long one read waits before the loop looks at the clock, the abort flag and pending acks.
constexpr auto kIdleSlice = std::chrono::milliseconds(10);
// Publisher ids beyond this (not ours: sluice-perf caps --publishers at 1000) are not tracked.
constexpr std::uint32_t kMaxTrackedPublishers = 4096;

class Consumer {
 public:
  Consumer(const ConsumerConfig& config, RunControl& control, ConsumerStats& stats)
      : config_(config), control_(control), stats_(stats) {}

  void run();

 private:
  void handle(const amqp::Frame& frame, Clock::time_point received);
  void on_method(const amqp::Frame& frame);
  void on_header(const amqp::Frame& frame, Clock::time_point received);
  void on_body(const amqp::Frame& frame, Clock::time_point received);
  void complete(Clock::time_point received);
  void check_order(const MessageStamp& stamp);

  const ConsumerConfig& config_;
  RunControl& control_;
  ConsumerStats& stats_;
  std::optional<AmqpClient> client_;
  Window window_{};
  std::uint64_t start_ns_ = 0;  // window_.start on the stamps' clock

  // The delivery being assembled from its method, header and body frames.
  enum class Expect { Method, Header, Body };
  Expect expect_ = Expect::Method;
  std::uint64_t delivery_tag_ = 0;
  std::uint64_t body_left_ = 0;
  bool body_started_ = false;
  std::optional<MessageStamp> stamp_;

  // Last sequence number seen per publisher id, for the out-of-order count.
  std::vector<std::optional<std::uint32_t>> last_sequence_;

  std::uint64_t received_ = 0;
  std::uint64_t unacked_ = 0;
  std::uint64_t last_tag_ = 0;
};

void Consumer::run() {
  client_.emplace(AmqpClient::connect(config_.connection));
  if (config_.prefetch > 0) client_->qos(config_.prefetch);
  client_->consume(config_.queue, config_.auto_ack);

  const auto window = control_.arrive_and_wait();
  if (!window) return client_->close();
  window_ = *window;
  start_ns_ = steady_ns(window_.start);

  while (!control_.aborted()) {
    const auto now = Clock::now();
    if (now >= window_.end) break;
    const bool got = client_->receive(std::min(window_.end, now + kIdleSlice));
    // One reading for the whole read: every frame in it arrived by now.
    const auto received = Clock::now();
    while (auto frame = client_->next_frame()) handle(*frame, received);
    stats_.received_total.store(received_, std::memory_order_relaxed);

    if (unacked_ > 0 && (unacked_ >= config_.ack_every || !got)) {
      client_->append_ack(last_tag_, true);
      unacked_ = 0;
    }
    if (!client_->flush(window_.end)) break;
  }
  client_->close();
}

void Consumer::handle(const amqp::Frame& frame, Clock::time_point received) {
  switch (frame.type) {
    case amqp::FrameType::Method:
      return on_method(frame);
    case amqp::FrameType::Header:
      return on_header(frame, received);
    case amqp::FrameType::Body:
      return on_body(frame, received);
    case amqp::FrameType::Heartbeat:
      return;
  }
}

void Consumer::on_method(const amqp::Frame& frame) {
  auto method = amqp::decode_method(frame.payload);
  if (!method) throw AmqpError(0, "undecodable method: " + method.error().detail);
  if (const auto* deliver = std::get_if<m::BasicDeliver>(&*method)) {
    if (expect_ != Expect::Method) throw AmqpError(0, "basic.deliver inside another message");
    delivery_tag_ = deliver->delivery_tag;
    expect_ = Expect::Header;
  } else if (std::holds_alternative<m::BasicCancel>(*method)) {
    throw AmqpError(0, "broker cancelled the consumer on " + config_.queue);
  }
}

void Consumer::on_header(const amqp::Frame& frame, Clock::time_point received) {
  if (expect_ != Expect::Header) throw AmqpError(0, "content header without basic.deliver");
  auto header = amqp::decode_content_header(frame.payload);
  if (!header) throw AmqpError(0, "undecodable content header: " + header.error().detail);
  body_left_ = header->body_size;
  body_started_ = false;
  stamp_.reset();
  expect_ = Expect::Body;
  if (body_left_ == 0) complete(received);
}

void Consumer::on_body(const amqp::Frame& frame, Clock::time_point received) {
  if (expect_ != Expect::Body || frame.payload.size() > body_left_) {
    throw AmqpError(0, "unexpected content body frame");
  }
  if (!body_started_ && frame.payload.size() >= kStampSize) {
    stamp_ = read_stamp(frame.payload.data());
  }
  body_started_ = true;
  body_left_ -= frame.payload.size();
  if (body_left_ == 0) complete(received);
}

void Consumer::check_order(const MessageStamp& stamp) {
  if (stamp.publisher_id >= kMaxTrackedPublishers) return;
  if (stamp.publisher_id >= last_sequence_.size()) last_sequence_.resize(stamp.publisher_id + 1);
  auto& last = last_sequence_[stamp.publisher_id];
  // Serial-number comparison, so the 32-bit sequence may wrap.
  if (last && static_cast<std::int32_t>(stamp.sequence - *last) <= 0) ++stats_.out_of_order;
  last = stamp.sequence;
}

void Consumer::complete(Clock::time_point received) {
  expect_ = Expect::Method;
  ++received_;
  if (!config_.auto_ack) {
    ++unacked_;
    last_tag_ = delivery_tag_;
  }
  if (!window_.measured(received)) return;
  if (stamp_ && stamp_->send_ns < start_ns_) {
    ++stats_.stale;
    return;
  }
  ++stats_.consumed;
  if (!stamp_) {
    ++stats_.unstamped;
    return;
  }
  check_order(*stamp_);
  const std::uint64_t now_ns = steady_ns(received);
  stats_.latency.record(now_ns > stamp_->send_ns ? now_ns - stamp_->send_ns : 0);
}

}  // namespace

void run_consumer(const ConsumerConfig& config, RunControl& control, ConsumerStats& stats) {
  try {
    Consumer(config, control, stats).run();
  } catch (const std::exception& e) {
    stats.error = e.what();
    control.abort();
  }
}

}  // namespace sluice::perf
