// Connection: socket I/O, framing, frame routing and the turning of errors into closes.
// The connection-class methods are in connection_methods.cc, timers in connection_timers.cc.

#include "amqp/connection.h"

#include <algorithm>
#include <cstring>

#include <asio/post.hpp>
#include <fmt/format.h>

#include "amqp/broker_errors.h"
#include "amqp/connection_registry.h"
#include "amqp/logger.h"
#include "amqp/reply_code.h"
#include "broker/broker.h"
#include "common/assert.h"
#include "common/log_budget.h"

namespace sluice::amqp {
namespace {

constexpr std::uint8_t kProtocolHeader[8] = {'A', 'M', 'Q', 'P', 0, 0, 9, 1};
constexpr std::size_t kInitialReadBuffer = 32 * 1024;
constexpr std::size_t kMinReadSpace = 4096;
// Bodies this large are written from the message (scatter/gather), not copied for output.
constexpr std::size_t kBodyByReference = 64 * 1024;

std::string connection_name(const net::Stream& stream) {
  return net::to_string(stream.remote_endpoint()) + " -> " +
         net::to_string(stream.local_endpoint());
}

}  // namespace

std::string_view Connection::state_name(State state) {
  switch (state) {
    case State::AwaitingHeader: return "awaiting-header";
    case State::AwaitingStartOk: return "starting";
    case State::AwaitingTuneOk: return "tuning";
    case State::AwaitingOpen: return "opening";
    case State::Open: return "running";
    case State::Closing: return "closing";
    case State::Closed: return "closed";
  }
  return "unknown";
}

Connection::Connection(std::unique_ptr<net::Stream> stream, const ConnectionContext& context,
                       std::uint64_t id)
    : stream_(std::move(stream)),
      context_(context),
      id_(id),
      name_(connection_name(*stream_)),
      peer_is_loopback_(net::is_loopback(stream_->remote_endpoint().address())),
      handshake_timer_(stream_->executor()),
      heartbeat_timer_(stream_->executor()),
      close_timer_(stream_->executor()) {}

Connection::~Connection() = default;

void Connection::start() {
  started_at_ = last_received_ = last_sent_ = std::chrono::steady_clock::now();
  context_.registry->add(id_, weak_from_this());
  logger()->debug("conn={} accepted connection {}", id_, name_);
  arm_handshake_timer();
  in_.resize(kInitialReadBuffer);
  read_more();
}

void Connection::shutdown(std::string reason) {
  asio::post(stream_->executor(), [self = shared_from_this(), reason = std::move(reason)] {
    if (self->state_ == State::Closed) return;
    if (self->state_ == State::Closing) return;
    if (self->state_ == State::AwaitingHeader) {
      self->teardown("broker shutdown");
      return;
    }
    self->start_closing(static_cast<std::uint16_t>(ReplyCode::ConnectionForced),
                        reply_text(ReplyCode::ConnectionForced,
                                   fmt::format("broker forced connection closure with reason "
                                               "'{}'",
                                               reason)),
                        0, 0);
    self->flush();
    // A connection blocked by an alarm must be read again to see the client's close-ok.
    if (self->reading_paused_) self->resume_publishing();
  });
}

// --- Input ------------------------------------------------------------------------------

void Connection::read_more() {
  // Make room: compact what is unparsed to the front, then grow if a frame needs it.
  if (in_begin_ == in_end_) {
    in_begin_ = in_end_ = 0;
  } else if (in_.size() - in_end_ < kMinReadSpace) {
    std::memmove(in_.data(), in_.data() + in_begin_, in_end_ - in_begin_);
    in_end_ -= in_begin_;
    in_begin_ = 0;
  }
  std::size_t wanted = in_end_ + kMinReadSpace;
  if (in_end_ - in_begin_ >= kFrameHeaderSize) {
    // The size of the frame in progress was checked against frame_max by parse_frame.
    const std::uint8_t* h = in_.data() + in_begin_;
    const std::size_t payload = (std::size_t{h[3]} << 24) | (std::size_t{h[4]} << 16) |
                                (std::size_t{h[5]} << 8) | std::size_t{h[6]};
    wanted = std::max(wanted, in_begin_ + payload + kFrameOverhead);
  }
  if (in_.size() < wanted) in_.resize(wanted);

  stream_->async_read_some(
      asio::buffer(in_.data() + in_end_, in_.size() - in_end_),
      [self = shared_from_this()](const std::error_code& ec, std::size_t n) {
        self->on_read(ec, n);
      });
}

void Connection::on_read(const std::error_code& ec, std::size_t n) {
  if (state_ == State::Closed) return;
  if (ec) {
    teardown(ec == asio::error::eof ? "client closed the socket"
                                    : "socket error: " + ec.message());
    return;
  }
  last_received_ = std::chrono::steady_clock::now();
  ConnectionStats::add(stats_.recv_oct, n);
  in_end_ += n;
  if (discard_input_) {
    in_begin_ = in_end_;
  } else {
    process_input();
  }
  flush();
  if (state_ != State::Closed && !reading_paused_) read_more();
}

// Under a memory or disk alarm a publish is not accepted: the connection stops reading, so
// the client's TCP window fills and it slows down, while consumers keep draining. The same
// happens, silently, while the message log is too far behind the disk (flow control).
bool Connection::must_wait_to_publish(const Frame& frame) {
  if (frame.type != FrameType::Method || state_ != State::Open) return false;
  const ByteSpan p = frame.payload;
  const bool publish = p.size() >= 4 && p[0] == 0 && p[1] == method::BasicPublish::kClassId &&
                       p[2] == 0 && p[3] == method::BasicPublish::kMethodId;
  if (!publish) return false;
  broker::Broker& broker = *context_.broker;
  const bool alarm = broker.resource_alarm();
  if (!alarm && !broker.publish_held_by_log()) return false;
  if (!reading_paused_) {
    reading_paused_ = true;
    keep_alive_while_paused_ = shared_from_this();
  }
  if (alarm && !blocked_notified_) {
    logger()->info("conn={} blocked: {}", id_, broker.alarm_reason());
    if (client_capability(ClientCapability::ConnectionBlocked)) {
      send_method(0, method::ConnectionBlocked{.reason = broker.alarm_reason()});
    }
    blocked_notified_ = true;
  }
  return true;
}

void Connection::resume_publishing() {
  if (!reading_paused_ || state_ == State::Closed) return;
  reading_paused_ = false;
  const auto self = std::move(keep_alive_while_paused_);
  if (blocked_notified_ && !context_.broker->resource_alarm()) {
    logger()->info("conn={} unblocked", id_);
    if (state_ == State::Open && client_capability(ClientCapability::ConnectionBlocked)) {
      send_method(0, method::ConnectionUnblocked{});
    }
    blocked_notified_ = false;
  }
  process_input();
  flush();
  if (state_ != State::Closed && !reading_paused_) read_more();
}

void Connection::process_input() {
  if (state_ == State::AwaitingHeader && !check_protocol_header()) return;
  while (!discard_input_ && state_ != State::Closed) {
    const ByteSpan input(in_.data() + in_begin_, in_end_ - in_begin_);
    // As RabbitMQ, accept payloads up to frame_max (the spec counts the 8 bytes of framing
    // in it); some clients size their frames that way.
    const std::uint32_t limit = frame_max_ == 0 ? 0 : frame_max_ + kFrameOverhead;
    FrameParse parsed = parse_frame(input, limit);
    if (parsed.status == FrameParse::Status::NeedMore) return;
    if (parsed.status == FrameParse::Status::Failed) {
      // The stream cannot be resynchronised after a framing error.
      discard_input_ = true;
      in_begin_ = in_end_;
      fail_connection(parsed.error, 0, 0);
      return;
    }
    if (must_wait_to_publish(parsed.frame)) return;  // the publish stays in the buffer
    in_begin_ += parsed.consumed;
    ConnectionStats::add(stats_.recv_frames, 1);
    frame_class_id_ = frame_method_id_ = 0;
    auto handled = handle_frame(parsed.frame);
    if (!handled) {
      fail_connection(handled.error(), frame_class_id_, frame_method_id_);
    }
  }
}

// Returns true once a valid 0-9-1 header has been consumed. On anything else the server
// answers with the header it does speak and closes, as the spec asks.
bool Connection::check_protocol_header() {
  const std::size_t have = std::min(in_end_ - in_begin_, sizeof(kProtocolHeader));
  if (std::memcmp(in_.data() + in_begin_, kProtocolHeader, have) == 0) {
    if (have < sizeof(kProtocolHeader)) return false;
    in_begin_ += sizeof(kProtocolHeader);
    send_start();
    return true;
  }
  logger()->info("conn={} peer={} sent a bad protocol header; replying with AMQP 0-9-1", id_,
                 name_);
  out_.insert(out_.end(), std::begin(kProtocolHeader), std::end(kProtocolHeader));
  discard_input_ = true;
  in_begin_ = in_end_;
  state_ = State::Closing;
  close_after_flush();
  return false;
}

// --- Output -----------------------------------------------------------------------------

void Connection::send_method(std::uint16_t channel, const Method& method) {
  logger()->trace("conn={} ch={} send {}", id_, channel,
                  method_name(class_id_of(method), method_id_of(method)));
  append_method_frame(out_, channel, method);
  ConnectionStats::add(stats_.send_frames, 1);
  schedule_flush();
}

void Connection::confirms_pending(std::uint16_t channel) {
  if (confirm_channels_.empty() || confirm_channels_.back() != channel) {
    confirm_channels_.push_back(channel);
  }
  schedule_flush();
}

// Output produced on behalf of another connection (a delivery caused by someone else's
// publish) leaves at the end of the current event, together with whatever else it produced.
void Connection::schedule_flush() {
  if (flush_scheduled_ || write_in_flight_ || state_ == State::Closed) return;
  flush_scheduled_ = true;
  asio::post(stream_->executor(), [self = shared_from_this()] {
    self->flush_scheduled_ = false;
    self->flush();
  });
}

void Connection::send_message(std::uint16_t channel, const Method& method,
                              const broker::MessagePtr& message) {
  send_method(channel, method);
  append_frame(out_, FrameType::Header, channel, message->encoded_header);
  const ByteSpan body(message->body);
  const std::size_t chunk = frame_max_ == 0 ? body.size() : frame_max_ - kFrameOverhead;
  // Copying a small body is cheaper than one more iovec; a large one is sent from where it is.
  const bool by_reference = body.size() >= kBodyByReference;
  for (std::size_t pos = 0; pos < body.size(); pos += chunk) {
    const ByteSpan payload = body.subspan(pos, std::min(chunk, body.size() - pos));
    if (!by_reference) {
      append_frame(out_, FrameType::Body, channel, payload);
      continue;
    }
    const std::size_t start = begin_frame(out_, FrameType::Body, channel);
    ByteWriter(out_).patch_u32(start + 3, static_cast<std::uint32_t>(payload.size()));
    out_refs_.push_back(BodyRef{out_.size(), message, payload});
    out_ref_bytes_ += payload.size();
    out_.push_back(kFrameEnd);
  }
  ConnectionStats::add(stats_.send_frames, 1 + (body.size() + chunk - 1) / chunk);
}

void Connection::flush() {
  if (write_in_flight_ || state_ == State::Closed) return;
  for (std::uint16_t id : confirm_channels_) {
    if (id < channels_.size() && channels_[id]) channels_[id]->send_confirms();
  }
  confirm_channels_.clear();
  if (out_.empty()) return;
  std::swap(out_, writing_);
  std::swap(out_refs_, writing_refs_);
  std::vector<asio::const_buffer> buffers;
  buffers.reserve(2 * writing_refs_.size() + 1);
  std::size_t from = 0;
  for (const BodyRef& r : writing_refs_) {
    buffers.push_back(asio::buffer(writing_.data() + from, r.at - from));
    buffers.push_back(asio::buffer(r.payload.data(), r.payload.size()));
    from = r.at;
  }
  buffers.push_back(asio::buffer(writing_.data() + from, writing_.size() - from));
  write_in_flight_ = true;
  last_sent_ = std::chrono::steady_clock::now();
  ConnectionStats::add(stats_.send_oct, writing_.size() + out_ref_bytes_);
  out_ref_bytes_ = 0;
  stream_->async_write(std::move(buffers),
                       [self = shared_from_this()](const std::error_code& ec, std::size_t) {
                         self->on_written(ec);
                       });
}

void Connection::on_written(const std::error_code& ec) {
  write_in_flight_ = false;
  writing_.clear();
  writing_refs_.clear();
  if (state_ == State::Closed) return;
  if (ec) {
    teardown("socket error while writing: " + ec.message());
    return;
  }
  if (!out_.empty()) {
    flush();
  } else if (close_after_flush_) {
    linger();
  } else if (state_ == State::Open && deliveries_held_) {
    // The socket drained: deliveries held back by output_congested() may flow again.
    deliveries_held_ = false;
    for (auto& channel : channels_) {
      if (channel) channel->resume_deliveries();
    }
    flush();
  }
}

// Closes once everything queued has been written.
void Connection::close_after_flush() {
  close_after_flush_ = true;
  if (!write_in_flight_ && out_.empty()) linger();
}

// Half-closes and keeps reading until the client closes too, so our last frame is not lost to
// a reset caused by unread input; the close timer bounds the wait.
void Connection::linger() {
  stream_->shutdown_send();
  discard_input_ = true;
  arm_close_timer(std::chrono::milliseconds(1000));
}

void Connection::teardown(std::string_view reason) {
  if (state_ == State::Closed) return;
  const bool was_open = user_.has_value();
  state_ = State::Closed;
  keep_alive_while_paused_.reset();
  handshake_timer_.cancel();
  heartbeat_timer_.cancel();
  close_timer_.cancel();
  stream_->close();
  release_channels();
  context_.registry->remove(id_);

  const auto lived = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_at_);
  if (was_open) {
    logger()->info("conn={} closed connection {} user={} vhost={} duration={:.1f}s reason=\"{}\"",
                   id_, name_, user_->name, vhost_, lived.count(), reason);
  } else {
    logger()->debug("conn={} closed connection {} before login, duration={:.1f}s reason=\"{}\"",
                    id_, name_, lived.count(), reason);
  }
}

// Channels first (their unacked messages go back to their queues), then the exclusive
// queues that die with the connection.
void Connection::release_channels() {
  for (auto& channel : channels_) {
    if (channel) channel->release();
  }
  channels_.clear();
  open_channels_ = 0;
  stats_.channels.store(0, std::memory_order_relaxed);
  if (vhost_ptr_ != nullptr) vhost_ptr_->connection_closed(id_);
}

// --- Frame routing ----------------------------------------------------------------------

Result<void> Connection::handle_frame(const Frame& frame) {
  // Once we have sent connection.close, only close and close-ok count (spec 2.2.4).
  if (state_ == State::Closing && frame.channel != 0) return ok();

  if (frame.type == FrameType::Heartbeat) {
    if (frame.channel != 0 || !frame.payload.empty()) {
      return amqp_error(ReplyCode::FrameError,
                        fmt::format("heartbeat frame on channel {} with {} payload bytes",
                                    frame.channel, frame.payload.size()));
    }
    return ok();
  }
  if (frame.channel != 0) {
    if (state_ != State::Open) {
      return amqp_error(ReplyCode::UnexpectedFrame,
                        fmt::format("frame on channel {} in connection state {}", frame.channel,
                                    state_name(state_)));
    }
    return handle_channel_frame(frame);
  }
  if (frame.type != FrameType::Method) {
    return amqp_error(ReplyCode::UnexpectedFrame,
                      fmt::format("content frame of type {} on channel 0",
                                  static_cast<int>(frame.type)));
  }
  auto decoded = decode_frame_method(frame);
  if (!decoded) return decoded.error();
  return handle_connection_method(*decoded);
}

Result<Method> Connection::decode_frame_method(const Frame& frame) {
  auto decoded = decode_method(frame.payload);
  if (decoded) {
    frame_class_id_ = class_id_of(*decoded);
    frame_method_id_ = method_id_of(*decoded);
  }
  return decoded;
}

Result<void> Connection::handle_channel_frame(const Frame& frame) {
  const std::uint16_t id = frame.channel;
  Channel* channel = id < channels_.size() ? channels_[id].get() : nullptr;
  if (channel == nullptr) {
    if (frame.type != FrameType::Method) {
      return amqp_error(ReplyCode::UnexpectedFrame,
                        fmt::format("expected method frame on channel {}, got non method frame "
                                    "instead",
                                    id));
    }
    auto decoded = decode_frame_method(frame);
    if (!decoded) return decoded.error();
    return open_channel(id, *decoded);
  }

  auto handled = channel->handle_frame(frame);
  if (!handled) {
    if (is_hard_error(to_reply_code(handled.error().code))) {
      fail_connection(handled.error(), channel->failing_class_id(),
                      channel->failing_method_id());
      return ok();
    }
    fail_channel(*channel, handled.error());
  }
  if (channel->finished()) {
    channels_[id].reset();
    --open_channels_;
    stats_.channels.store(static_cast<std::uint32_t>(open_channels_), std::memory_order_relaxed);
    logger()->debug("conn={} ch={} closed", id_, id);
  }
  return ok();
}

Result<void> Connection::open_channel(std::uint16_t id, const Method& method) {
  if (!std::holds_alternative<method::ChannelOpen>(method)) {
    return amqp_error(ReplyCode::ChannelError,
                      fmt::format("expected 'channel.open' on channel {}, got {}", id,
                                  method_name(class_id_of(method), method_id_of(method))));
  }
  if (id > channel_max_) {
    return amqp_error(ReplyCode::NotAllowed,
                      fmt::format("channel {} exceeds the negotiated channel_max {}", id,
                                  channel_max_));
  }
  channels_[id] = std::make_unique<Channel>(*this, id);
  ++open_channels_;
  stats_.channels.store(static_cast<std::uint32_t>(open_channels_), std::memory_order_relaxed);
  send_method(id, method::ChannelOpenOk{});
  logger()->debug("conn={} ch={} opened", id_, id);
  return ok();
}

// --- Errors -----------------------------------------------------------------------------

void Connection::fail_channel(Channel& channel, const Error& error) {
  logger()->debug("conn={} ch={} channel error: {}", id_, channel.id(),
                  reply_text(to_reply_code(error.code), error.detail));
  channel.close_with_error(error);
}

void Connection::fail_connection(const Error& error, std::uint16_t class_id,
                                 std::uint16_t method_id) {
  if (state_ == State::Closing || state_ == State::Closed) return;
  const ReplyCode code = to_reply_code(error.code);
  std::string text = reply_text(code, error.detail);
  // A client can trigger this line at will by reconnecting: rate-limited, across connections.
  static log::LogBudget budget(20, std::chrono::seconds(10));
  if (std::uint64_t held = 0; budget.allow(held)) {
    logger()->warn("conn={} peer={} closing connection: {}{}", id_, name_, text,
                   log::held_back_note(held));
  }
  start_closing(static_cast<std::uint16_t>(code), std::move(text), class_id, method_id);
}

void Connection::start_closing(std::uint16_t code, std::string text, std::uint16_t class_id,
                               std::uint16_t method_id) {
  send_method(0, method::ConnectionClose{.reply_code = code,
                                         .reply_text = std::move(text),
                                         .class_id = class_id,
                                         .method_id = method_id});
  state_ = State::Closing;
  handshake_timer_.cancel();
  arm_close_timer(std::chrono::duration_cast<std::chrono::milliseconds>(limits().close_timeout));
}

}  // namespace sluice::amqp
