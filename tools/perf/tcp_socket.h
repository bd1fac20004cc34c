#pragma once

// A non-blocking TCP socket used with deadlines, so that no call can outlive the benchmark's
// --duration: every wait is a poll() bounded by the caller's deadline.
//
// Owns the file descriptor; movable, not copyable. Errors other than a deadline passing throw
// std::system_error (tools may throw; main catches).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace sluice::perf {

using Clock = std::chrono::steady_clock;
// A deadline that has always passed: makes a wait a non-blocking check.
inline constexpr Clock::time_point kNoWait{};

class TcpSocket {
 public:
  TcpSocket() = default;
  ~TcpSocket();
  TcpSocket(TcpSocket&& other) noexcept;
  TcpSocket& operator=(TcpSocket&& other) noexcept;
  TcpSocket(const TcpSocket&) = delete;
  TcpSocket& operator=(const TcpSocket&) = delete;

  // Resolves host and connects with TCP_NODELAY set. Throws on failure or when the deadline
  // passes.
  static TcpSocket connect(const std::string& host, std::uint16_t port, Clock::time_point deadline);

  // Writes as much of [data, data + size) as the kernel takes before the deadline; returns the
  // number of bytes written (less than size only if the deadline passed).
  std::size_t write(const std::uint8_t* data, std::size_t size, Clock::time_point deadline);

  // Waits until some bytes arrive or the deadline passes; returns how many were read, 0 on
  // timeout. A deadline in the past makes it a non-blocking read. Throws when the peer has
  // closed the connection.
  std::size_t read(std::uint8_t* data, std::size_t capacity, Clock::time_point deadline);

  void close();
  bool is_open() const { return fd_ >= 0; }

 private:
  explicit TcpSocket(int fd) : fd_(fd) {}
  // Waits for `events` on the socket; false when the deadline passes first.
  bool wait(short events, Clock::time_point deadline);

  int fd_ = -1;
  // Whether the last read() emptied the socket. If it did, the next one polls before trying
  // recv(), which would only fail; a busy consumer skips the poll instead.
  bool drained_ = true;
};

}  // namespace sluice::perf
