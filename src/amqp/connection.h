#pragma once

// Connection: one AMQP 0-9-1 client connection, from protocol header to close.
//
// Lifecycle: the server creates it for an accepted socket and calls start(). It reads the
// protocol header, runs the handshake (start/start-ok, tune/tune-ok, open/open-ok), then routes
// frames: channel 0 to the connection-class handlers in connection_methods.cc, other channels
// to their Channel. It ends in teardown(), after a close handshake in either direction, a
// protocol error, a dead peer, a handshake timeout, or a socket error.
//
// Threading: a connection lives on the event loop that owns its stream; every method except
// shutdown() must run there. Asynchronous operations hold a shared_ptr to the connection, so
// it lives until the last of them completes after teardown().
//
// Errors: handlers return Result<void>. An error whose reply code is hard closes the
// connection (connection.close with that code); a soft one closes only the channel. This is
// the one place where errors become closes.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <asio/steady_timer.hpp>

#include "amqp/channel.h"
#include "amqp/connection_stats.h"
#include "amqp/frame.h"
#include "amqp/limits.h"
#include "amqp/methods.h"
#include "auth/access_control.h"
#include "common/bytes.h"
#include "common/result.h"
#include "net/stream.h"

namespace sluice::broker {
class Broker;
class VirtualHost;
struct Message;
}  // namespace sluice::broker

namespace sluice::amqp {

class ConnectionRegistry;

// Shared services every connection uses. Outlives all connections.
struct ConnectionContext {
  Limits limits;
  const auth::AccessControl* access = nullptr;
  ConnectionRegistry* registry = nullptr;
  broker::Broker* broker = nullptr;  // used on the broker loop only
};

// Client capabilities (connection.start-ok client-properties) that change what we send.
enum class ClientCapability : unsigned {
  AuthenticationFailureClose = 1u << 0,
  ConsumerCancelNotify = 1u << 1,
  ConnectionBlocked = 1u << 2,
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(std::unique_ptr<net::Stream> stream, const ConnectionContext& context,
             std::uint64_t id);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void start();

  // The resource alarm cleared: read again if we had stopped because of it. Broker loop.
  void resume_publishing();

  // Thread-safe. Sends connection.close 320 CONNECTION_FORCED with `reason` and closes the
  // socket when the client answers or after Limits::close_timeout.
  void shutdown(std::string reason);

  std::uint64_t id() const { return id_; }
  const std::string& name() const { return name_; }
  const ConnectionStats& stats() const { return stats_; }

  // For channels, on the connection's loop. Frames are queued and leave together at the end
  // of the current event.
  void send_method(std::uint16_t channel, const Method& method);
  // A content-bearing method followed by a message's header and body.
  void send_message(std::uint16_t channel, const Method& method,
                    const broker::MessagePtr& message);
  const Limits& limits() const { return context_.limits; }

  // A channel has publisher confirms to send; they leave coalesced (one basic.ack with
  // multiple) just before the next write.
  void confirms_pending(std::uint16_t channel);

  // Queued output is above the high-water mark: queues hold deliveries back until it drains,
  // so a slow consumer costs the broker its queue, not unbounded connection buffers.
  bool output_congested() const { return out_.size() + out_ref_bytes_ >= kOutputHighWater; }
  // A queue held a delivery back because of output_congested(): resume once drained.
  void note_deliveries_held() { deliveries_held_ = true; }

  bool client_capability(ClientCapability c) const {
    return (client_capabilities_ & static_cast<unsigned>(c)) != 0;
  }
  broker::Broker* broker() const { return context_.broker; }
  broker::VirtualHost* vhost() const { return vhost_ptr_; }
  const broker::Actor& actor() const { return actor_; }

 private:
  enum class State {
    AwaitingHeader,   // nothing read yet
    AwaitingStartOk,  // connection.start sent
    AwaitingTuneOk,   // connection.tune sent
    AwaitingOpen,     // tune-ok received
    Open,
    Closing,          // we sent connection.close and wait for close-ok
    Closed,           // torn down
  };
  static std::string_view state_name(State state);
  static constexpr std::size_t kOutputHighWater = 1 << 20;

  // Socket I/O and framing (connection.cc).
  void read_more();
  void on_read(const std::error_code& ec, std::size_t n);
  void process_input();
  bool check_protocol_header();
  bool must_wait_to_publish(const Frame& frame);
  void flush();
  void schedule_flush();
  void on_written(const std::error_code& ec);
  void close_after_flush();
  void linger();
  void teardown(std::string_view reason);
  void release_channels();

  // Frame routing and error handling (connection.cc).
  Result<void> handle_frame(const Frame& frame);
  Result<Method> decode_frame_method(const Frame& frame);
  Result<void> handle_channel_frame(const Frame& frame);
  Result<void> open_channel(std::uint16_t channel, const Method& method);
  void fail_connection(const Error& error, std::uint16_t class_id, std::uint16_t method_id);
  void fail_channel(Channel& channel, const Error& error);
  void start_closing(std::uint16_t code, std::string text, std::uint16_t class_id,
                     std::uint16_t method_id);

  // Connection-class methods (connection_methods.cc).
  void send_start();
  Result<void> handle_connection_method(const Method& method);
  Result<void> on_start_ok(const method::ConnectionStartOk& m);
  Result<void> on_tune_ok(const method::ConnectionTuneOk& m);
  Result<void> on_open(const method::ConnectionOpen& m);
  Result<void> on_close(const method::ConnectionClose& m);
  Result<void> refuse_login(const Error& error, std::string_view mechanism);

  // Timers (connection_timers.cc).
  void arm_handshake_timer();
  void start_heartbeats();
  void on_heartbeat_tick();
  void arm_close_timer(std::chrono::milliseconds after);

  std::unique_ptr<net::Stream> stream_;
  const ConnectionContext& context_;
  const std::uint64_t id_;
  const std::string name_;  // "127.0.0.1:51234 -> 127.0.0.1:5672", as RabbitMQ names them
  const bool peer_is_loopback_;
  State state_ = State::AwaitingHeader;

  // Input: bytes [in_begin_, in_end_) of in_ are received but not yet parsed.
  Bytes in_;
  std::size_t in_begin_ = 0;
  std::size_t in_end_ = 0;
  bool discard_input_ = false;  // after a framing error nothing more can be parsed
  bool reading_paused_ = false;   // a publish waits for an alarm or flow control to clear
  // While reading is paused no read holds the connection alive; this does, until resumed.
  std::shared_ptr<Connection> keep_alive_while_paused_;
  bool blocked_notified_ = false;  // blocked by an alarm: logged, and told if it can be
  // The method of the frame being handled, for the class-id and method-id of a close.
  std::uint16_t frame_class_id_ = 0;
  std::uint16_t frame_method_id_ = 0;

  // Output: frames collect in out_ while writing_ is on the wire. A large body is not copied
  // into them: its frame's header and end octet are, and a BodyRef says where its payload
  // goes, which is written from the message itself (scatter/gather).
  struct BodyRef {
    std::size_t at = 0;  // offset in the buffer where the payload belongs
    broker::MessagePtr message;  // keeps the bytes alive until written
    ByteSpan payload;
  };
  Bytes out_;
  Bytes writing_;
  std::vector<BodyRef> out_refs_;
  std::vector<BodyRef> writing_refs_;
  std::size_t out_ref_bytes_ = 0;  // payload bytes of out_refs_
  bool write_in_flight_ = false;
  bool flush_scheduled_ = false;
  bool deliveries_held_ = false;  // see note_deliveries_held()
  bool close_after_flush_ = false;
  std::vector<std::uint16_t> confirm_channels_;

  // Negotiated in connection.tune-ok; until then the spec's minimum frame size applies.
  std::uint32_t frame_max_ = kFrameMinSize;
  std::uint16_t channel_max_ = 0;
  std::uint16_t heartbeat_seconds_ = 0;

  // Who is on the other end.
  std::optional<auth::User> user_;
  std::string vhost_;
  broker::VirtualHost* vhost_ptr_ = nullptr;
  broker::Actor actor_;
  std::string client_product_;
  unsigned client_capabilities_ = 0;

  // channels_[id] for id in 1..channel_max_, null when not open.
  std::vector<std::unique_ptr<Channel>> channels_;
  std::size_t open_channels_ = 0;

  asio::steady_timer handshake_timer_;
  asio::steady_timer heartbeat_timer_;
  asio::steady_timer close_timer_;
  std::chrono::steady_clock::time_point started_at_;
  std::chrono::steady_clock::time_point last_received_;
  std::chrono::steady_clock::time_point last_sent_;
  ConnectionStats stats_;
};

}  // namespace sluice::amqp
