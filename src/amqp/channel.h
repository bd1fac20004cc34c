#pragma once

// Channel: one AMQP channel of a connection.
//
// Owned by its Connection and used only on the connection's loop. It assembles content
// (a content-bearing method, then a content header, then body frames) and dispatches methods
// by class. It is created by channel.open and destroyed by the connection once finished()
// says the close handshake is over.
//
// A soft error sends channel.close; from then until the client's close-ok, the channel
// discards everything else it receives, as the spec requires.

#include <cstdint>
#include <optional>

#include "amqp/frame.h"
#include "amqp/methods.h"
#include "amqp/properties.h"
#include "common/bytes.h"
#include "common/result.h"

namespace sluice::amqp {

class Connection;

class Channel {
 public:
  Channel(Connection& connection, std::uint16_t id);

  std::uint16_t id() const { return id_; }

  // Handles one frame routed to this channel.
  Result<void> handle_frame(const Frame& frame);

  // Sends channel.close for a soft error and starts discarding input.
  void close_with_error(const Error& error);

  // True once the close handshake is complete and the connection may destroy the channel.
  bool finished() const { return state_ == State::Finished; }

  // The method being handled when an error occurred, for the close's class-id and method-id.
  std::uint16_t failing_class_id() const { return current_class_id_; }
  std::uint16_t failing_method_id() const { return current_method_id_; }

 private:
  enum class State { Open, Closing, Finished };

  // A content-bearing method waiting for its header and body.
  struct PendingContent {
    Method method;
    std::optional<ContentHeader> header;
    Bytes body;
  };

  Result<void> handle_method(const Frame& frame);
  Result<void> handle_content_header(const Frame& frame);
  Result<void> handle_content_body(const Frame& frame);
  Result<void> dispatch(const Method& method);
  Result<void> dispatch_content(PendingContent&& content);
  Result<void> on_channel_method(const Method& method);

  Connection& connection_;
  const std::uint16_t id_;
  State state_ = State::Open;
  std::optional<PendingContent> pending_;
  std::uint16_t current_class_id_ = 0;
  std::uint16_t current_method_id_ = 0;
};

}  // namespace sluice::amqp
