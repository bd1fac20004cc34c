#include "amqp/reply_code.h"

namespace sluice::amqp {

std::string_view reply_code_name(ReplyCode code) {
  switch (code) {
    case ReplyCode::Success: return "OK";
    case ReplyCode::ContentTooLarge: return "CONTENT_TOO_LARGE";
    case ReplyCode::NoRoute: return "NO_ROUTE";
    case ReplyCode::NoConsumers: return "NO_CONSUMERS";
    case ReplyCode::ConnectionForced: return "CONNECTION_FORCED";
    case ReplyCode::InvalidPath: return "INVALID_PATH";
    case ReplyCode::AccessRefused: return "ACCESS_REFUSED";
    case ReplyCode::NotFound: return "NOT_FOUND";
    case ReplyCode::ResourceLocked: return "RESOURCE_LOCKED";
    case ReplyCode::PreconditionFailed: return "PRECONDITION_FAILED";
    case ReplyCode::FrameError: return "FRAME_ERROR";
    case ReplyCode::SyntaxError: return "SYNTAX_ERROR";
    case ReplyCode::CommandInvalid: return "COMMAND_INVALID";
    case ReplyCode::ChannelError: return "CHANNEL_ERROR";
    case ReplyCode::UnexpectedFrame: return "UNEXPECTED_FRAME";
    case ReplyCode::ResourceError: return "RESOURCE_ERROR";
    case ReplyCode::NotAllowed: return "NOT_ALLOWED";
    case ReplyCode::NotImplemented: return "NOT_IMPLEMENTED";
    case ReplyCode::InternalError: return "INTERNAL_ERROR";
  }
  return "UNKNOWN";
}

bool is_hard_error(ReplyCode code) {
  switch (code) {
    case ReplyCode::ConnectionForced:
    case ReplyCode::InvalidPath:
    case ReplyCode::FrameError:
    case ReplyCode::SyntaxError:
    case ReplyCode::CommandInvalid:
    case ReplyCode::ChannelError:
    case ReplyCode::UnexpectedFrame:
    case ReplyCode::ResourceError:
    case ReplyCode::NotAllowed:
    case ReplyCode::NotImplemented:
    case ReplyCode::InternalError:
      return true;
    default:
      return false;
  }
}

namespace {

class AmqpCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "amqp"; }
  std::string message(int value) const override {
    return std::string(reply_code_name(static_cast<ReplyCode>(value)));
  }
};

}  // namespace

const std::error_category& amqp_category() {
  static const AmqpCategory category;
  return category;
}

std::string reply_text(ReplyCode code, std::string_view detail) {
  std::string text(reply_code_name(code));
  if (!detail.empty()) {
    text += " - ";
    text += detail;
  }
  // reply-text is a shortstr.
  if (text.size() > 255) text.resize(255);
  return text;
}

}  // namespace sluice::amqp
