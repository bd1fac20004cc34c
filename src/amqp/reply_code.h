#pragma once

// AMQP 0-9-1 reply codes, as used by RabbitMQ, and the std::error_category that carries them.
//
// An amqp error_code's value *is* the reply code, so turning an error into a channel.close or
// connection.close needs no table. Hard errors close the connection, soft errors the channel.

#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

#include "common/result.h"

namespace sluice::amqp {

enum class ReplyCode : std::uint16_t {
  Success = 200,
  ContentTooLarge = 311,
  NoRoute = 312,
  NoConsumers = 313,
  ConnectionForced = 320,
  InvalidPath = 402,
  AccessRefused = 403,
  NotFound = 404,
  ResourceLocked = 405,
  PreconditionFailed = 406,
  FrameError = 501,
  SyntaxError = 502,
  CommandInvalid = 503,
  ChannelError = 504,
  UnexpectedFrame = 505,
  ResourceError = 506,
  NotAllowed = 530,
  NotImplemented = 540,
  InternalError = 541,
};

// "NOT_FOUND", "FRAME_ERROR", ...: the prefix RabbitMQ puts in front of every reply-text.
std::string_view reply_code_name(ReplyCode code);

// Hard errors (3xx connection-forced, 5xx) close the whole connection.
bool is_hard_error(ReplyCode code);

const std::error_category& amqp_category();

inline std::error_code make_error_code(ReplyCode code) {
  return {static_cast<int>(code), amqp_category()};
}

// Builds an Error whose code is the reply code and whose detail is the human-readable part of
// the reply-text ("no queue 'q' in vhost '/'").
inline Error amqp_error(ReplyCode code, std::string detail) {
  return Error{make_error_code(code), std::move(detail)};
}

// The reply-text a client sees: "NOT_FOUND - no queue 'q' in vhost '/'", cut to fit a shortstr.
std::string reply_text(ReplyCode code, std::string_view detail);

}  // namespace sluice::amqp

template <>
struct std::is_error_code_enum<sluice::amqp::ReplyCode> : std::true_type {};
