#pragma once

// Stream: the byte pipe a protocol connection reads from and writes to.
//
// A plain TCP socket today; a TLS stream implements the same interface. One virtual call per
// read or write system call is noise next to the system call itself. All methods must be
// called on the stream's executor (the event loop that owns the connection), and at most one
// read and one write may be outstanding at a time.

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/buffer.hpp>
#include <asio/ip/tcp.hpp>

namespace sluice::net {

using IoHandler = std::function<void(const std::error_code&, std::size_t)>;

class Stream {
 public:
  virtual ~Stream() = default;

  virtual asio::any_io_executor executor() = 0;
  virtual void async_read_some(asio::mutable_buffer buffer, IoHandler handler) = 0;
  // Writes every byte of every buffer, or fails.
  virtual void async_write(std::vector<asio::const_buffer> buffers, IoHandler handler) = 0;
  // Stops sending (TCP FIN) but keeps reading, so a peer can read our last frame.
  virtual void shutdown_send() = 0;
  virtual void close() = 0;

  virtual const asio::ip::tcp::endpoint& remote_endpoint() const = 0;
  virtual const asio::ip::tcp::endpoint& local_endpoint() const = 0;
};

// Wraps an accepted TCP socket.
std::unique_ptr<Stream> make_tcp_stream(asio::ip::tcp::socket socket);

// True for 127.0.0.0/8, ::1 and IPv4-mapped loopback (::ffff:127.x.x.x).
bool is_loopback(const asio::ip::address& address);

// "127.0.0.1:5672" or "[::1]:5672".
std::string to_string(const asio::ip::tcp::endpoint& endpoint);

}  // namespace sluice::net
