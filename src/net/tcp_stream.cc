#include <asio/write.hpp>
#include <fmt/format.h>

#include "net/stream.h"

namespace sluice::net {
namespace {

class TcpStream final : public Stream {
 public:
  explicit TcpStream(asio::ip::tcp::socket socket) : socket_(std::move(socket)) {
    std::error_code ec;
    remote_ = socket_.remote_endpoint(ec);
    local_ = socket_.local_endpoint(ec);
    // Frames are small and latency matters more than packet count; we batch writes ourselves.
    socket_.set_option(asio::ip::tcp::no_delay(true), ec);
  }

  asio::any_io_executor executor() override { return socket_.get_executor(); }

  void async_read_some(asio::mutable_buffer buffer, IoHandler handler) override {
    socket_.async_read_some(buffer, std::move(handler));
  }

  void async_write(std::vector<asio::const_buffer> buffers, IoHandler handler) override {
    asio::async_write(socket_, std::move(buffers), std::move(handler));
  }

  void shutdown_send() override {
    std::error_code ec;
    socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ec);
  }

  void close() override {
    std::error_code ec;
    socket_.close(ec);
  }

  const asio::ip::tcp::endpoint& remote_endpoint() const override { return remote_; }
  const asio::ip::tcp::endpoint& local_endpoint() const override { return local_; }

 private:
  asio::ip::tcp::socket socket_;
  asio::ip::tcp::endpoint remote_;
  asio::ip::tcp::endpoint local_;
};

}  // namespace

std::unique_ptr<Stream> make_tcp_stream(asio::ip::tcp::socket socket) {
  return std::make_unique<TcpStream>(std::move(socket));
}

bool is_loopback(const asio::ip::address& address) {
  if (address.is_v4()) return address.to_v4().is_loopback();
  const auto v6 = address.to_v6();
  if (v6.is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, v6).is_loopback();
  }
  return v6.is_loopback();
}

std::string to_string(const asio::ip::tcp::endpoint& endpoint) {
  const auto address = endpoint.address();
  if (address.is_v6()) return fmt::format("[{}]:{}", address.to_string(), endpoint.port());
  return fmt::format("{}:{}", address.to_string(), endpoint.port());
}

}  // namespace sluice::net
