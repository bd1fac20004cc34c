#include "tools/perf/publisher.h"

#include <sys/prctl.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <thread>

#include "tools/perf/confirm_tracker.h"
#include "tools/perf/message_stamp.h"

namespace sluice::perf {
namespace {

namespace m = amqp::method;

// One write() carries about this much: enough to amortise the syscall over hundreds of small
// messages without holding a message back for long.
constexpr std::size_t kBatchBytes = 64 * 1024;
// A paced publisher that fell behind (descheduled, or blocked by the broker) catches up by at
// most this much at once and forgets the rest, so pacing never turns into a burst.
constexpr auto kMaxLag = std::chrono::milliseconds(5);
// Unpaced publishers without confirms look for broker frames (a close, an alarm) this often.
constexpr int kBatchesPerIdleRead = 64;
// How long to wait for acks at a time when the confirm window is full.
constexpr auto kConfirmWaitSlice = std::chrono::milliseconds(10);
// How long a publisher waits at the end for the broker to work through what it has already
// been sent (see AmqpClient::close).
constexpr auto kDrainTimeout = std::chrono::seconds(30);

class Publisher {
 public:
  Publisher(const PublisherConfig& config, RunControl& control, PublisherStats& stats)
      : config_(config), control_(control), stats_(stats) {}

  void run();

 private:
  void build_template();
  void append_messages(std::size_t count, Clock::time_point now);
  std::size_t messages_allowed(Clock::time_point now);
  void wait_until(Clock::time_point deadline);
  void handle_frames(Clock::time_point now);

  const PublisherConfig& config_;
  RunControl& control_;
  PublisherStats& stats_;
  std::optional<AmqpClient> client_;
  std::optional<ConfirmTracker> confirms_;
  Window window_{};

  Bytes template_;                // method, header and body frames of one message
  std::size_t stamp_offset_ = 0;  // where the body (and so the stamp) starts in template_
  std::size_t batch_messages_ = 1;
  std::uint32_t sequence_ = 0;
  std::uint64_t sent_ = 0;

  Clock::duration interval_{};  // between two messages when paced
  Clock::time_point next_due_{};
};

void Publisher::run() {
  client_.emplace(AmqpClient::connect(config_.connection));
  if (config_.confirm_window > 0) {
    client_->confirm_select();
    confirms_.emplace(config_.confirm_window);
  }
  build_template();
  if (config_.rate > 0) {
    // Sleeps must end within microseconds of the due time; the default 50 us slack is half the
    // interval at 10,000 msg/s.
    ::prctl(PR_SET_TIMERSLACK, 1000UL, 0UL, 0UL, 0UL);
    interval_ = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(1.0 / config_.rate));
  }

  const auto window = control_.arrive_and_wait();
  if (!window) return client_->close();
  window_ = *window;
  next_due_ = window_.start;
  std::this_thread::sleep_until(window_.start);

  int batches = 0;
  while (!control_.aborted()) {
    const auto now = Clock::now();
    if (now >= window_.end) break;
    const std::size_t n = messages_allowed(now);
    if (n == 0) {
      const bool window_full = confirms_ && confirms_->room() == 0;
      wait_until(window_full ? std::min(window_.end, now + kConfirmWaitSlice)
                             : std::min(window_.end, next_due_));
      continue;
    }
    append_messages(n, now);
    if (!client_->flush(window_.end)) break;  // the broker stopped reading; the run is over
    if (confirms_ || ++batches % kBatchesPerIdleRead == 0) {
      if (client_->receive(kNoWait)) handle_frames(Clock::now());
    }
  }
  client_->close(kDrainTimeout);
}

void Publisher::build_template() {
  m::BasicPublish publish;
  publish.exchange = config_.exchange;
  publish.routing_key = config_.routing_key;
  amqp::append_method_frame(template_, kChannel, publish);
  const std::size_t header_at = template_.size();

  amqp::ContentHeader header;
  header.body_size = config_.message_size;
  header.properties.delivery_mode = config_.persistent ? 2 : 1;
  const Bytes body(config_.message_size, 0);
  amqp::append_content(template_, kChannel, header, body, client_->frame_max());

  // The first body frame's payload starts right after the header frame.
  const auto parsed = amqp::parse_frame(ByteSpan(template_).subspan(header_at), 0);
  stamp_offset_ = header_at + parsed.consumed + amqp::kFrameHeaderSize;
  batch_messages_ = std::max<std::size_t>(1, kBatchBytes / template_.size());
  client_->out().reserve(batch_messages_ * template_.size() + kBatchBytes);
}

std::size_t Publisher::messages_allowed(Clock::time_point now) {
  std::size_t n = batch_messages_;
  if (interval_ > Clock::duration::zero()) {
    next_due_ = std::max(next_due_, now - kMaxLag);
    if (now < next_due_) return 0;
    const auto due = static_cast<std::size_t>((now - next_due_) / interval_) + 1;
    n = std::min(n, due);
  }
  if (confirms_) n = std::min<std::size_t>(n, confirms_->room());
  return n;
}

void Publisher::append_messages(std::size_t count, Clock::time_point now) {
  // One clock reading stamps the whole batch: it goes out in one write() anyway.
  const std::uint64_t now_ns = steady_ns(now);
  Bytes& out = client_->out();
  for (std::size_t i = 0; i < count; ++i) {
    const std::size_t at = out.size();
    out.insert(out.end(), template_.begin(), template_.end());
    write_stamp(out.data() + at + stamp_offset_, MessageStamp{now_ns, config_.id, sequence_++});
    if (confirms_) confirms_->on_publish(now_ns);
  }
  sent_ += count;
  stats_.sent_total.store(sent_, std::memory_order_relaxed);
  if (window_.measured(now)) stats_.published += count;
  if (interval_ > Clock::duration::zero()) next_due_ += interval_ * static_cast<long>(count);
}

void Publisher::wait_until(Clock::time_point deadline) {
  // With confirms in flight, wait on the socket so acks are taken as they come; otherwise
  // there is nothing to read and a plain sleep is cheaper.
  if (confirms_ && !confirms_->idle()) {
    if (client_->receive(deadline)) handle_frames(Clock::now());
  } else {
    std::this_thread::sleep_until(deadline);
  }
}

void Publisher::handle_frames(Clock::time_point now) {
  const std::uint64_t now_ns = steady_ns(now);
  const bool measured = window_.measured(now);
  while (auto frame = client_->next_frame()) {
    if (frame->type != amqp::FrameType::Method || !confirms_) continue;
    auto method = amqp::decode_method(frame->payload);
    if (!method) throw AmqpError(0, "undecodable method: " + method.error().detail);
    Histogram* latency = measured ? &stats_.confirm_latency : nullptr;
    if (const auto* ack = std::get_if<m::BasicAck>(&*method)) {
      const auto n = confirms_->on_confirm(ack->delivery_tag, ack->multiple, now_ns, latency);
      if (measured) stats_.confirmed += n;
    } else if (const auto* nack = std::get_if<m::BasicNack>(&*method)) {
      const auto n = confirms_->on_confirm(nack->delivery_tag, nack->multiple, now_ns, nullptr);
      if (measured) stats_.nacked += n;
    }
  }
}

}  // namespace

void run_publisher(const PublisherConfig& config, RunControl& control, PublisherStats& stats) {
  try {
    Publisher(config, control, stats).run();
  } catch (const std::exception& e) {
    stats.error = e.what();
    control.abort();
  }
}

}  // namespace sluice::perf
