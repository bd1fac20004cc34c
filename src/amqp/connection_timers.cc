// Connection timers: the handshake deadline, heartbeats both ways, and the close deadline.

#include "amqp/connection.h"
#include "amqp/logger.h"

namespace sluice::amqp {

void Connection::arm_handshake_timer() {
  handshake_timer_.expires_after(limits().handshake_timeout);
  handshake_timer_.async_wait([self = shared_from_this()](const std::error_code& ec) {
    if (ec || self->state_ == State::Open || self->state_ == State::Closed) return;
    logger()->info("conn={} peer={} did not finish the handshake within {}s (state {})",
                   self->id_, self->name_, self->limits().handshake_timeout.count(),
                   state_name(self->state_));
    self->teardown("handshake timeout");
  });
}

// Ticks at half the interval: sends a heartbeat when we have been silent that long, and
// declares the peer dead after two whole intervals without a byte from it (as RabbitMQ does).
void Connection::start_heartbeats() {
  if (heartbeat_seconds_ == 0) return;
  heartbeat_timer_.expires_after(std::chrono::milliseconds(heartbeat_seconds_) * 500);
  heartbeat_timer_.async_wait([self = shared_from_this()](const std::error_code& ec) {
    if (ec || self->state_ == State::Closed) return;
    self->on_heartbeat_tick();
  });
}

void Connection::on_heartbeat_tick() {
  const auto now = std::chrono::steady_clock::now();
  const auto interval = std::chrono::seconds(heartbeat_seconds_);
  // A connection we stopped reading (resource alarm) is not silent by its own doing.
  if (reading_paused_) last_received_ = now;
  if (now - last_received_ >= 2 * interval) {
    logger()->warn("conn={} peer={} missed heartbeats, no data for {}s; closing", id_, name_,
                   2 * heartbeat_seconds_);
    teardown("missed heartbeats");
    return;
  }
  if (now - last_sent_ >= interval / 2 && !write_in_flight_) {
    append_heartbeat(out_);
    flush();
  }
  start_heartbeats();
}

void Connection::arm_close_timer(std::chrono::milliseconds after) {
  close_timer_.expires_after(after);
  close_timer_.async_wait([self = shared_from_this()](const std::error_code& ec) {
    if (ec || self->state_ == State::Closed) return;
    self->teardown("closed without a close-ok in time");
  });
}

}  // namespace sluice::amqp
