#pragma once

// A minimal blocking AMQP 0-9-1 client over one TCP connection with one channel (channel 1),
// just enough for the load generator: PLAIN login, tune, open, declares, publish, consume,
// confirm.select and acks. It speaks plain AMQP so it runs against RabbitMQ as well as Sluice.
//
// Synchronous methods (declare, bind, qos, consume...) send the request and wait for its reply,
// bounded by kRpcTimeout; a channel.close or connection.close from the broker becomes an
// AmqpError carrying the reply code. The data path is split so callers can batch: they append
// frames to out() and flush() them in one write, and receive() many frames in one read, then
// walk them with next_frame().
//
// One thread owns a client. Heartbeats are negotiated off: every loop that uses the client is
// bounded by the benchmark's duration, so idle detection buys nothing.

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

#include "amqp/frame.h"
#include "amqp/methods.h"
#include "common/bytes.h"
#include "tools/perf/tcp_socket.h"

namespace sluice::perf {

inline constexpr std::uint16_t kChannel = 1;
inline constexpr auto kRpcTimeout = std::chrono::seconds(30);
inline constexpr auto kCloseTimeout = std::chrono::seconds(2);
// What we ask for in tune-ok when the broker allows more: large enough that a 1 MiB message
// takes eight body frames, small enough to keep read buffers modest.
inline constexpr std::uint32_t kPreferredFrameMax = 131072;

struct ConnectionParams {
  std::string host = "127.0.0.1";
  std::uint16_t port = 5672;
  std::string user = "guest";
  std::string password = "guest";
  std::string vhost = "/";
  // Shown by the broker's management UI and logs, e.g. "sluice-perf publisher 3".
  std::string connection_name = "sluice-perf";
};

// The broker refused something: reply_code is the AMQP code (404, 406, 540...) or 0 for a
// transport or framing failure.
class AmqpError : public std::runtime_error {
 public:
  AmqpError(std::uint16_t reply_code, const std::string& what)
      : std::runtime_error(what), reply_code_(reply_code) {}
  std::uint16_t reply_code() const { return reply_code_; }

 private:
  std::uint16_t reply_code_;
};

class AmqpClient {
 public:
  // Connects, logs in, opens the connection and channel 1. Throws AmqpError or
  // std::system_error.
  static AmqpClient connect(const ConnectionParams& params);

  AmqpClient(AmqpClient&&) = default;
  AmqpClient& operator=(AmqpClient&&) = default;

  // Negotiated largest frame, header and end octet included.
  std::uint32_t frame_max() const { return frame_max_; }

  // --- synchronous methods on channel 1 ---
  void declare_queue(const std::string& name, bool durable);
  // Returns the number of messages the queue held.
  std::uint32_t delete_queue(const std::string& name);
  void declare_exchange(const std::string& name, const std::string& type, bool durable);
  void delete_exchange(const std::string& name);
  void bind_queue(const std::string& queue, const std::string& exchange,
                  const std::string& routing_key);
  void qos(std::uint16_t prefetch_count);
  // Returns the consumer tag the broker assigned.
  std::string consume(const std::string& queue, bool no_ack);
  void confirm_select();
  // After the broker closed channel 1 (an AmqpError from one of the calls above), opens it
  // again so the connection can go on being used.
  void reopen_channel();

  // --- batched data path ---
  // Bytes waiting to be written; append frames here, then flush().
  Bytes& out() { return out_; }
  // Writes out() until it is empty or the deadline passes; true when everything was written.
  bool flush(Clock::time_point deadline);
  void append_ack(std::uint64_t delivery_tag, bool multiple);

  // Reads what has arrived, waiting until the deadline for the first byte (a past deadline
  // makes it non-blocking). Returns false if nothing arrived. Frames from earlier reads that
  // next_frame() has not returned yet stay buffered.
  bool receive(Clock::time_point deadline);
  // The next complete frame received so far, or nullopt. The frame's payload points into the
  // read buffer and stays valid until the next receive(). A connection.close or channel.close
  // from the broker is answered and thrown as AmqpError; connection.blocked is thrown too,
  // because a blocked publisher would only measure the broker's alarm.
  std::optional<amqp::Frame> next_frame();

  // Sends connection.close and waits up to `timeout` for close-ok. Never throws: this runs on
  // the way out, possibly after an error.
  //
  // NOTE: the broker answers close-ok only after it has handled every frame sent before the
  // close. A publisher that outran the broker should wait for it: its backlog would otherwise
  // land in the next run's queues of the same name.
  void close(Clock::duration timeout = kCloseTimeout);

 private:
  AmqpClient(TcpSocket socket, ConnectionParams params);

  void handshake();
  void open_channel();
  // Sends one method on `channel` and waits for the method that answers it.
  template <class Reply, class Request>
  Reply call(std::uint16_t channel, const Request& request);
  amqp::Method wait_method(std::uint16_t channel, Clock::time_point deadline);
  // Throws AmqpError for a close from the broker, after answering it.
  void check_close(const amqp::Frame& frame);

  TcpSocket socket_;
  ConnectionParams params_;
  std::uint32_t frame_max_ = amqp::kFrameMinSize;
  Bytes out_;
  Bytes in_;
  std::size_t in_begin_ = 0;  // first unparsed byte
  std::size_t in_end_ = 0;    // one past the last received byte
};

}  // namespace sluice::perf
