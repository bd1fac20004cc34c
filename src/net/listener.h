#pragma once

// Listener: a bound TCP acceptor that hands each accepted socket to a callback on the event
// loop chosen for it. Owned by the server; open() and start() run on the main thread before
// the loops start, close() from any thread via post.

#include <functional>
#include <string>

#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include "common/result.h"
#include "net/io_pool.h"

namespace sluice::net {

class Listener {
 public:
  using AcceptHandler = std::function<void(asio::ip::tcp::socket)>;

  // `name` ("amqp") is used in logs and errors.
  Listener(std::string name, IoPool& pool);

  // Binds and listens. The error names the address and port and what went wrong, e.g.
  // "cannot listen on 0.0.0.0:5672 for amqp: Address already in use".
  Result<void> open(const std::string& address, std::uint16_t port);

  // Accepts connections until close(). The handler runs on the socket's loop.
  void start(AcceptHandler handler);
  void close();

  asio::ip::tcp::endpoint local_endpoint() const;

 private:
  void accept_next();

  std::string name_;
  IoPool& pool_;
  asio::ip::tcp::acceptor acceptor_;
  asio::steady_timer backoff_;  // after a failed accept (out of file descriptors)
  AcceptHandler handler_;
};

}  // namespace sluice::net
