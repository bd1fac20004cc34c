#include "tools/perf/tcp_socket.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <stdexcept>
#include <system_error>
#include <utility>

namespace sluice::perf {
namespace {

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

// Time left until the deadline, zero once it has passed. Nanosecond precision matters: a paced
// publisher waits for acks only until its next message is due, often 100 us away.
timespec time_left(Clock::time_point deadline) {
  const auto left = std::max(deadline - Clock::now(), Clock::duration::zero());
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
  return timespec{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
}

int open_nonblocking(const addrinfo& ai) {
  const int fd =
      ::socket(ai.ai_family, ai.ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai.ai_protocol);
  if (fd < 0) throw_errno("socket");
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

}  // namespace

TcpSocket::~TcpSocket() { close(); }

TcpSocket::TcpSocket(TcpSocket&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), drained_(other.drained_) {}

TcpSocket& TcpSocket::operator=(TcpSocket&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = std::exchange(other.fd_, -1);
    drained_ = other.drained_;
  }
  return *this;
}

void TcpSocket::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

TcpSocket TcpSocket::connect(const std::string& host, std::uint16_t port,
                             Clock::time_point deadline) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  if (const int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found); rc != 0) {
    throw std::runtime_error("cannot resolve " + host + ": " + ::gai_strerror(rc));
  }
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> list(found, &::freeaddrinfo);

  TcpSocket sock(open_nonblocking(*found));
  if (::connect(sock.fd_, found->ai_addr, found->ai_addrlen) != 0) {
    if (errno != EINPROGRESS) throw_errno("connect to " + host + ":" + service);
    if (!sock.wait(POLLOUT, deadline)) {
      throw std::runtime_error("connect to " + host + ":" + service + " timed out");
    }
    int err = 0;
    socklen_t len = sizeof(err);
    ::getsockopt(sock.fd_, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      errno = err;
      throw_errno("connect to " + host + ":" + service);
    }
  }
  return sock;
}

bool TcpSocket::wait(short events, Clock::time_point deadline) {
  pollfd p{fd_, events, 0};
  for (;;) {
    const timespec timeout = time_left(deadline);
    const int rc = ::ppoll(&p, 1, &timeout, nullptr);
    if (rc > 0) return true;
    if (rc < 0 && errno != EINTR) throw_errno("poll");
    if (rc == 0 && Clock::now() >= deadline) return false;
  }
}

std::size_t TcpSocket::write(const std::uint8_t* data, std::size_t size,
                             Clock::time_point deadline) {
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::send(fd_, data + done, size - done, MSG_NOSIGNAL);
    if (n > 0) {
      done += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) throw_errno("send");
    if (!wait(POLLOUT, deadline)) break;
  }
  return done;
}

std::size_t TcpSocket::read(std::uint8_t* data, std::size_t capacity, Clock::time_point deadline) {
  if (drained_ && deadline > Clock::now() && !wait(POLLIN, deadline)) return 0;
  for (;;) {
    const ssize_t n = ::recv(fd_, data, capacity, 0);
    if (n > 0) {
      drained_ = static_cast<std::size_t>(n) < capacity;
      return static_cast<std::size_t>(n);
    }
    if (n == 0) throw std::runtime_error("connection closed by the broker");
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) throw_errno("recv");
    if (!wait(POLLIN, deadline)) return 0;
  }
}

}  // namespace sluice::perf
