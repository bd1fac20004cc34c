#include "amqp/broker_errors.h"

#include "auth/access_control.h"
#include "broker/errc.h"

namespace sluice::amqp {

ReplyCode to_reply_code(const std::error_code& code) {
  if (code.category() == amqp_category()) return static_cast<ReplyCode>(code.value());
  if (code.category() == broker::broker_category()) {
    switch (static_cast<broker::errc>(code.value())) {
      case broker::errc::not_found: return ReplyCode::NotFound;
      case broker::errc::access_refused: return ReplyCode::AccessRefused;
      case broker::errc::resource_locked: return ReplyCode::ResourceLocked;
      case broker::errc::precondition_failed: return ReplyCode::PreconditionFailed;
      case broker::errc::not_implemented: return ReplyCode::NotImplemented;
      case broker::errc::command_invalid: return ReplyCode::CommandInvalid;
    }
  }
  if (code.category() == auth::auth_category()) {
    switch (static_cast<auth::errc>(code.value())) {
      case auth::errc::bad_credentials:
      case auth::errc::loopback_only:
      case auth::errc::vhost_access_refused:
        return ReplyCode::AccessRefused;
      case auth::errc::vhost_not_found:
        return ReplyCode::NotAllowed;
    }
  }
  return ReplyCode::InternalError;
}

}  // namespace sluice::amqp
