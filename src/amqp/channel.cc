#include "amqp/channel.h"

#include <fmt/format.h>

#include "amqp/connection.h"
#include "amqp/reply_code.h"
#include "common/logging.h"

namespace sluice::amqp {
namespace {

template <class... Fs>
struct Overloaded : Fs... {
  using Fs::operator()...;
};

}  // namespace

Channel::Channel(Connection& connection, std::uint16_t id) : connection_(connection), id_(id) {}

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
                      fmt::format("expected content header for {} on channel {}, got {}",
                                  method_name(class_id_of(pending_->method),
                                              method_id_of(pending_->method)),
                                  id_, method_name(current_class_id_, current_method_id_)));
  }
  if (method_has_content(current_class_id_, current_method_id_)) {
    pending_.emplace(PendingContent{method, std::nullopt, {}});
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
  auto header = decode_content_header(frame.payload);
  if (!header) return header.error();
  if (header->class_id != class_id_of(pending_->method)) {
    return amqp_error(ReplyCode::UnexpectedFrame,
                      fmt::format("content header for class {} follows a method of class {}",
                                  header->class_id, class_id_of(pending_->method)));
  }
  const std::uint64_t max = connection_.limits().max_message_size;
  if (header->body_size > max) {
    pending_.reset();
    return amqp_error(ReplyCode::PreconditionFailed,
                      fmt::format("message size {} is larger than configured max size {}",
                                  header->body_size, max));
  }
  pending_->body.reserve(header->body_size);
  pending_->header = std::move(*header);
  if (pending_->header->body_size == 0) {
    PendingContent content = std::move(*pending_);
    pending_.reset();
    return dispatch_content(std::move(content));
  }
  return ok();
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
  return dispatch_content(std::move(content));
}

Result<void> Channel::dispatch(const Method& method) {
  switch (current_class_id_) {
    case method::ChannelOpen::kClassId:
      return on_channel_method(method);
    case method::AccessRequest::kClassId:
      if (std::holds_alternative<method::AccessRequest>(method)) {
        // access.request is deprecated; RabbitMQ answers it with a dummy ticket.
        connection_.send_method(id_, method::AccessRequestOk{.ticket = 1});
        return ok();
      }
      break;
    case method::ExchangeDeclare::kClassId:
    case method::QueueDeclare::kClassId:
    case method::BasicQos::kClassId:
    case method::TxSelect::kClassId:
    case method::ConfirmSelect::kClassId:
      // TODO: the broker core (exchanges, queues, consuming, confirms, tx) is its own work
      // item; until it lands these methods are refused honestly rather than ignored.
      return amqp_error(ReplyCode::NotImplemented,
                        fmt::format("{} is not implemented yet",
                                    method_name(current_class_id_, current_method_id_)));
    case method::ConnectionStart::kClassId:
      return amqp_error(ReplyCode::CommandInvalid,
                        fmt::format("{} is not allowed on channel {}",
                                    method_name(current_class_id_, current_method_id_), id_));
    default:
      break;
  }
  return amqp_error(ReplyCode::CommandInvalid,
                    fmt::format("unimplemented method {}",
                                method_name(current_class_id_, current_method_id_)));
}

Result<void> Channel::dispatch_content(PendingContent&& content) {
  // TODO: publishing needs the broker core; until then it is refused, not dropped.
  return amqp_error(ReplyCode::NotImplemented,
                    fmt::format("{} is not implemented yet",
                                method_name(class_id_of(content.method),
                                            method_id_of(content.method))));
}

Result<void> Channel::on_channel_method(const Method& method) {
  return std::visit(
      Overloaded{
          [&](const method::ChannelClose&) -> Result<void> {
            connection_.send_method(id_, method::ChannelCloseOk{});
            state_ = State::Finished;
            return ok();
          },
          [&](const method::ChannelCloseOk&) -> Result<void> {
            // Only valid in Closing, handled in handle_method.
            return amqp_error(ReplyCode::ChannelError,
                              fmt::format("channel.close-ok on channel {} that was not closing",
                                          id_));
          },
          [&](const method::ChannelFlow& m) -> Result<void> {
            // RabbitMQ no longer supports flow control by the client (active=false).
            if (!m.active) {
              return amqp_error(ReplyCode::NotImplemented, "active=false");
            }
            connection_.send_method(id_, method::ChannelFlowOk{.active = true});
            return ok();
          },
          [&](const method::ChannelOpen&) -> Result<void> {
            return amqp_error(ReplyCode::ChannelError,
                              fmt::format("second 'channel.open' seen on channel {}", id_));
          },
          [&](const auto&) -> Result<void> {
            return amqp_error(ReplyCode::CommandInvalid,
                              fmt::format("unimplemented method {}",
                                          method_name(current_class_id_, current_method_id_)));
          },
      },
      method);
}

void Channel::close_with_error(const Error& error) {
  const auto code = static_cast<ReplyCode>(error.code.value());
  connection_.send_method(id_, method::ChannelClose{
                                   .reply_code = static_cast<std::uint16_t>(code),
                                   .reply_text = reply_text(code, error.detail),
                                   .class_id = current_class_id_,
                                   .method_id = current_method_id_,
                               });
  pending_.reset();
  state_ = State::Closing;
}

}  // namespace sluice::amqp
