#include "net/listener.h"

#include <asio/post.hpp>
#include <fmt/format.h>

#include "common/log_budget.h"
#include "common/logging.h"

namespace sluice::net {

Listener::Listener(std::string name, IoPool& pool)
    : name_(std::move(name)), pool_(pool), acceptor_(pool.loop(0)), backoff_(pool.loop(0)) {}

Result<void> Listener::open(const std::string& address, std::uint16_t port) {
  auto fail = [&](const std::error_code& ec) {
    return Error{ec, fmt::format("cannot listen on {}:{} for {}: {}", address, port, name_,
                                 ec.message())};
  };
  std::error_code ec;
  const auto ip = asio::ip::make_address(address, ec);
  if (ec) return fail(ec);
  const asio::ip::tcp::endpoint endpoint(ip, port);
  acceptor_.open(endpoint.protocol(), ec);
  if (ec) return fail(ec);
  acceptor_.set_option(asio::ip::tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    acceptor_.close();
    return fail(ec);
  }
  return ok();
}

void Listener::start(AcceptHandler handler) {
  handler_ = std::move(handler);
  accept_next();
}

void Listener::accept_next() {
  acceptor_.async_accept(pool_.next(), [this](const std::error_code& ec,
                                              asio::ip::tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
    if (ec) {
      // EMFILE and friends: the pending connection stays in the backlog, so accepting again
      // at once fails again at once. Wait a little; the condition may clear as connections
      // close. Logged at a bounded rate.
      static log::LogBudget budget(5, std::chrono::seconds(10));
      if (std::uint64_t held = 0; budget.allow(held)) {
        log::get("net")->warn("listener={} accept failed, retrying in 100 ms: {}{}", name_,
                              ec.message(), log::held_back_note(held));
      }
      backoff_.expires_after(std::chrono::milliseconds(100));
      backoff_.async_wait([this](const std::error_code& wait) {
        if (!wait && acceptor_.is_open()) accept_next();
      });
      return;
    }
    auto* loop = &static_cast<asio::io_context&>(socket.get_executor().context());
    asio::post(*loop, [this, s = std::move(socket)]() mutable { handler_(std::move(s)); });
    accept_next();
  });
}

void Listener::close() {
  asio::post(acceptor_.get_executor(), [this] {
    std::error_code ec;
    acceptor_.close(ec);
    backoff_.cancel();
  });
}

asio::ip::tcp::endpoint Listener::local_endpoint() const {
  std::error_code ec;
  return acceptor_.local_endpoint(ec);
}

}  // namespace sluice::net
