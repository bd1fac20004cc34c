// Connection-class methods: the handshake, close in both directions, update-secret.

#include <fmt/format.h>

#include "amqp/connection.h"
#include "amqp/logger.h"
#include "amqp/reply_code.h"
#include "amqp/sasl.h"
#include "amqp/server_properties.h"
#include "broker/broker.h"
#include "common/log_budget.h"

namespace sluice::amqp {
namespace {

// RabbitMQ's tune-ok validation: a client may lower a limit but not raise it, and 0 ("no
// limit") counts as raising it when the server has one.
Result<void> check_negotiated(std::string_view field, std::uint32_t client, std::uint32_t min,
                              std::uint32_t server) {
  if (client != 0 && client < min) {
    return amqp_error(ReplyCode::NotAllowed,
                      fmt::format("negotiated {} = {} is lower than the minimum allowed value "
                                  "({})",
                                  field, client, min));
  }
  if (server != 0 && (client == 0 || client > server)) {
    return amqp_error(ReplyCode::NotAllowed,
                      fmt::format("negotiated {} = {} is higher than the maximum allowed value "
                                  "({})",
                                  field, client, server));
  }
  return ok();
}

Result<void> unexpected(const Method& method, std::string_view state) {
  // RabbitMQ answers a method that does not fit the connection state with CHANNEL_ERROR.
  return amqp_error(ReplyCode::ChannelError,
                    fmt::format("unexpected method {} in connection state {}",
                                method_name(class_id_of(method), method_id_of(method)), state));
}

}  // namespace

void Connection::send_start() {
  state_ = State::AwaitingStartOk;
  send_method(0, method::ConnectionStart{.version_major = 0,
                                         .version_minor = 9,
                                         .server_properties = server_properties(),
                                         .mechanisms = std::string(kMechanisms),
                                         .locales = "en_US"});
}

Result<void> Connection::handle_connection_method(const Method& method) {
  // connection.close and close-ok are valid in every state.
  if (const auto* close = std::get_if<method::ConnectionClose>(&method)) return on_close(*close);
  if (std::holds_alternative<method::ConnectionCloseOk>(method)) {
    if (state_ != State::Closing) return unexpected(method, state_name(state_));
    teardown("close handshake complete");
    return ok();
  }
  switch (state_) {
    case State::AwaitingStartOk:
      if (const auto* m = std::get_if<method::ConnectionStartOk>(&method)) return on_start_ok(*m);
      break;
    case State::AwaitingTuneOk:
      if (const auto* m = std::get_if<method::ConnectionTuneOk>(&method)) return on_tune_ok(*m);
      break;
    case State::AwaitingOpen:
      if (const auto* m = std::get_if<method::ConnectionOpen>(&method)) return on_open(*m);
      break;
    case State::Open:
      if (const auto* m = std::get_if<method::ConnectionUpdateSecret>(&method)) {
        auto checked = context_.access->authenticate(user_->name, m->new_secret,
                                                     {.loopback = peer_is_loopback_});
        if (!checked) {
          return amqp_error(ReplyCode::NotAllowed, "new secret was refused");
        }
        send_method(0, method::ConnectionUpdateSecretOk{});
        return ok();
      }
      break;
    case State::Closing:
      return ok();  // everything but close and close-ok is discarded
    case State::AwaitingHeader:
    case State::Closed:
      break;
  }
  return unexpected(method, state_name(state_));
}

Result<void> Connection::on_start_ok(const method::ConnectionStartOk& m) {
  const FieldTable& props = m.client_properties;
  if (auto product = table_string(props, "product")) client_product_ = std::string(*product);
  if (const FieldValue* caps = table_find(props, "capabilities")) {
    if (const auto* table = std::get_if<FieldTable>(&caps->value)) {
      const std::pair<const char*, ClientCapability> known[] = {
          {"authentication_failure_close", ClientCapability::AuthenticationFailureClose},
          {"consumer_cancel_notify", ClientCapability::ConsumerCancelNotify},
          {"connection.blocked", ClientCapability::ConnectionBlocked},
      };
      for (const auto& [key, capability] : known) {
        if (table_bool(*table, key).value_or(false)) {
          client_capabilities_ |= static_cast<unsigned>(capability);
        }
      }
    }
  }

  auto credentials = parse_sasl_response(m.mechanism, m.response);
  if (!credentials) {
    if (credentials.error().code == ReplyCode::CommandInvalid) return credentials.error();
    return refuse_login(credentials.error(), m.mechanism);
  }
  auto user = context_.access->authenticate(credentials->user, credentials->password,
                                            {.loopback = peer_is_loopback_});
  if (!user) return refuse_login(user.error(), m.mechanism);
  user_ = std::move(*user);

  state_ = State::AwaitingTuneOk;
  send_method(0, method::ConnectionTune{.channel_max = limits().channel_max,
                                        .frame_max = limits().frame_max,
                                        .heartbeat = limits().heartbeat_seconds});
  return ok();
}

// A refused login is an ACCESS_REFUSED close when the client said it understands one
// (authentication_failure_close); otherwise the spec says to just drop the socket.
Result<void> Connection::refuse_login(const Error& error, std::string_view mechanism) {
  // A client can trigger this line at will: rate-limited, across connections. The audit
  // trail, not this log, is where every refusal is to be kept.
  static log::LogBudget budget(20, std::chrono::seconds(10));
  if (std::uint64_t held = 0; budget.allow(held)) {
    logger()->warn("conn={} peer={} login refused: {}{}", id_, name_, error.detail,
                   log::held_back_note(held));
  }
  if (!client_capability(ClientCapability::AuthenticationFailureClose)) {
    teardown("login refused");
    return ok();
  }
  start_closing(static_cast<std::uint16_t>(ReplyCode::AccessRefused),
                reply_text(ReplyCode::AccessRefused,
                           fmt::format("Login was refused using authentication mechanism {}. "
                                       "For details see the broker logfile.",
                                       mechanism)),
                method::ConnectionStartOk::kClassId, method::ConnectionStartOk::kMethodId);
  return ok();
}

Result<void> Connection::on_tune_ok(const method::ConnectionTuneOk& m) {
  if (auto r = check_negotiated("frame_max", m.frame_max, kFrameMinSize, limits().frame_max); !r) {
    return r;
  }
  if (auto r = check_negotiated("channel_max", m.channel_max, 1, limits().channel_max); !r) {
    return r;
  }
  frame_max_ = m.frame_max;
  channel_max_ = m.channel_max;
  heartbeat_seconds_ = m.heartbeat;
  channels_.resize(std::size_t{channel_max_} + 1);
  state_ = State::AwaitingOpen;
  start_heartbeats();
  return ok();
}

Result<void> Connection::on_open(const method::ConnectionOpen& m) {
  if (auto allowed = context_.access->check_vhost(*user_, m.virtual_host); !allowed) {
    return amqp_error(ReplyCode::NotAllowed, allowed.error().detail);
  }
  vhost_ptr_ = context_.broker->vhost(m.virtual_host);
  if (vhost_ptr_ == nullptr) {
    return amqp_error(ReplyCode::NotAllowed, fmt::format("vhost {} not found", m.virtual_host));
  }
  vhost_ = m.virtual_host;
  actor_ = broker::Actor{user_->name, id_};
  state_ = State::Open;
  handshake_timer_.cancel();
  send_method(0, method::ConnectionOpenOk{});
  logger()->info("conn={} opened connection {} user={} vhost={} client=\"{}\" heartbeat={}s "
                 "frame_max={} channel_max={}",
                 id_, name_, user_->name, vhost_, client_product_, heartbeat_seconds_,
                 frame_max_, channel_max_);
  return ok();
}

Result<void> Connection::on_close(const method::ConnectionClose& m) {
  send_method(0, method::ConnectionCloseOk{});
  const bool we_started = state_ == State::Closing;
  state_ = State::Closing;
  if (!we_started) {
    logger()->debug("conn={} client closed the connection: {} {}", id_, m.reply_code,
                    m.reply_text);
  }
  close_after_flush();
  return ok();
}

}  // namespace sluice::amqp
