// Channel: frames, content assembly, dispatch by class, the channel class itself, close.

#include "amqp/channel.h"

#include <fmt/format.h>

#include "amqp/broker_errors.h"
#include "amqp/connection.h"
#include "amqp/logger.h"
#include "amqp/reply_code.h"
#include "broker/broker.h"

namespace sluice::amqp {

Channel::Channel(Connection& connection, std::uint16_t id) : connection_(connection), id_(id) {}

Channel::~Channel() { release(); }

broker::VirtualHost& Channel::vhost() const { return *connection_.vhost(); }
broker::Broker& Channel::broker() const { return *connection_.broker(); }
const broker::Actor& Channel::actor() const { return connection_.actor(); }

Result<std::string> Channel::queue_name(const std::string& name) const {
  if (!name.empty()) return name;
  if (last_queue_.empty()) {
    return amqp_error(ReplyCode::NotFound, "no previously declared queue");
  }
  return last_queue_;
}

Result<void> Channel::handle_frame(const Frame& frame) {
  switch (frame.type) {
    case FrameType::Method: return handle_method(frame);
    case FrameType::Header: return handle_content_header(frame);
    case FrameType::Body: return handle_content_body(frame);
    case FrameType::Heartbeat: break;
  }
  return amqp_error(ReplyCode::UnexpectedFrame,
                    fmt::format("heartbeat frame on channel {}", id_));
}

Result<void> Channel::handle_method(const Frame& frame) {
  auto decoded = decode_method(frame.payload);
  if (!decoded) return decoded.error();
  const Method& method = *decoded;
  current_class_id_ = class_id_of(method);
  current_method_id_ = method_id_of(method);

  // After we sent channel.close, only the close handshake matters.
  if (state_ == State::Closing) {
    if (std::holds_alternative<method::ChannelCloseOk>(method)) {
      state_ = State::Finished;
    } else if (std::holds_alternative<method::ChannelClose>(method)) {
      connection_.send_method(id_, method::ChannelCloseOk{});
      state_ = State::Finished;
    }
    return ok();
  }

  if (pending_) {
    return amqp_error(ReplyCode::UnexpectedFrame,
                      fmt::format("expected content {} for {} on channel {}, got {}",
                                  pending_->header ? "body" : "header",
                                  method_name(class_id_of(pending_->method),
                                              method_id_of(pending_->method)),
                                  id_, method_name(current_class_id_, current_method_id_)));
  }
  if (method_has_content(current_class_id_, current_method_id_)) {
    if (!std::holds_alternative<method::BasicPublish>(method)) return unimplemented();
    pending_.emplace(PendingContent{method, std::nullopt, {}, {}});
    return ok();
  }
  return dispatch(method);
}

Result<void> Channel::handle_content_header(const Frame& frame) {
  if (state_ == State::Closing) return ok();
  if (!pending_ || pending_->header) {
    return amqp_error(ReplyCode::UnexpectedFrame,
                      fmt::format("content header on channel {} without a content method", id_));
  }
  // Check the class before decoding: a header of another class is out of sequence, not
  // malformed (RabbitMQ answers 505 too).
  const std::uint16_t expected_class = class_id_of(pending_->method);
  if (frame.payload.size() >= 2) {
    const auto header_class =
        static_cast<std::uint16_t>((frame.payload[0] << 8) | frame.payload[1]);
    if (header_class != expected_class) {
      return amqp_error(ReplyCode::UnexpectedFrame,
                        fmt::format("expected content header for class {}, got one for class "
                                    "{} instead",
                                    expected_class, header_class));
    }
  }
  auto header = decode_content_header(frame.payload);
  if (!header) return header.error();
  const std::uint64_t max = connection_.limits().max_message_size;
  if (header->body_size > max) {
    pending_.reset();
    return amqp_error(ReplyCode::PreconditionFailed,
                      fmt::format("message size {} is larger than configured max size {}",
                                  header->body_size, max));
  }
  pending_->body.reserve(header->body_size);
  pending_->encoded_header.assign(frame.payload.begin(), frame.payload.end());
  pending_->header = std::move(*header);
  if (pending_->header->body_size > 0) return ok();
  PendingContent content = std::move(*pending_);
  pending_.reset();
  return publish(std::move(content));
}

Result<void> Channel::handle_content_body(const Frame& frame) {
  if (state_ == State::Closing) return ok();
  if (!pending_ || !pending_->header) {
    return amqp_error(ReplyCode::UnexpectedFrame,
                      fmt::format("content body on channel {} without a content header", id_));
  }
  const std::uint64_t expected = pending_->header->body_size;
  if (pending_->body.size() + frame.payload.size() > expected) {
    return amqp_error(ReplyCode::FrameError,
                      fmt::format("content body on channel {} exceeds declared size {}", id_,
                                  expected));
  }
  pending_->body.insert(pending_->body.end(), frame.payload.begin(), frame.payload.end());
  if (pending_->body.size() < expected) return ok();
  PendingContent content = std::move(*pending_);
  pending_.reset();
  return publish(std::move(content));
}

Result<void> Channel::unimplemented() const {
  // RabbitMQ's answer to a method a client has no business sending (basic.deliver, ...).
  return amqp_error(ReplyCode::CommandInvalid,
                    fmt::format("unimplemented method {}",
                                method_name(current_class_id_, current_method_id_)));
}

Result<void> Channel::dispatch(const Method& method) {
  switch (current_class_id_) {
    case method::ChannelOpen::kClassId: return on_channel_method(method);
    case method::ExchangeDeclare::kClassId: return on_exchange_method(method);
    case method::QueueDeclare::kClassId: return on_queue_method(method);
    case method::BasicQos::kClassId: return on_basic_method(method);
    case method::TxSelect::kClassId: return on_tx_method(method);
    case method::ConfirmSelect::kClassId: return on_confirm_method(method);
    case method::AccessRequest::kClassId:
      if (std::holds_alternative<method::AccessRequest>(method)) {
        // access.request is deprecated; RabbitMQ answers it with a dummy ticket.
        connection_.send_method(id_, method::AccessRequestOk{.ticket = 1});
        return ok();
      }
      break;
    case method::ConnectionStart::kClassId:
      return amqp_error(ReplyCode::CommandInvalid,
                        fmt::format("{} is not allowed on channel {}",
                                    method_name(current_class_id_, current_method_id_), id_));
    default:
      break;
  }
  return unimplemented();
}

Result<void> Channel::on_channel_method(const Method& method) {
  if (std::holds_alternative<method::ChannelClose>(method)) {
    release();
    connection_.send_method(id_, method::ChannelCloseOk{});
    state_ = State::Finished;
    return ok();
  }
  if (const auto* flow = std::get_if<method::ChannelFlow>(&method)) {
    // RabbitMQ no longer supports flow control by the client (active=false).
    if (!flow->active) return amqp_error(ReplyCode::NotImplemented, "active=false");
    connection_.send_method(id_, method::ChannelFlowOk{.active = true});
    return ok();
  }
  if (std::holds_alternative<method::ChannelOpen>(method)) {
    return amqp_error(ReplyCode::ChannelError,
                      fmt::format("second 'channel.open' seen on channel {}", id_));
  }
  if (std::holds_alternative<method::ChannelCloseOk>(method)) {
    return amqp_error(ReplyCode::ChannelError,
                      fmt::format("channel.close-ok on channel {} that was not closing", id_));
  }
  return unimplemented();
}

void Channel::close_with_error(const Error& error) {
  const ReplyCode code = to_reply_code(error.code);
  connection_.send_method(id_, method::ChannelClose{
                                   .reply_code = static_cast<std::uint16_t>(code),
                                   .reply_text = reply_text(code, error.detail),
                                   .class_id = current_class_id_,
                                   .method_id = current_method_id_,
                               });
  pending_.reset();
  release();
  state_ = State::Closing;
}

void Channel::release() {
  if (released_) return;
  released_ = true;
  // Cancel first, so requeued messages are not handed straight back to this channel.
  while (!consumers_.empty()) remove_consumer(*consumers_.begin()->second);
  if (!reply_address_.empty()) {
    broker().replies().remove(reply_address_);
    reply_address_.clear();
  }
  requeue_all();
  tx_publishes_.clear();
  tx_settles_.clear();
  broker().stop_waiting(this);
  awaiting_disk_.clear();
}

}  // namespace sluice::amqp
