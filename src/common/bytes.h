#pragma once

// Big-endian (network order) readers and writers for the wire codec.
//
// ByteReader never reads past the span it was given: every read reports failure instead, and
// leaves the reader where it was. Lengths read from the wire are checked against what remains
// before anything is allocated.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sluice {

using Bytes = std::vector<std::uint8_t>;
using ByteSpan = std::span<const std::uint8_t>;

class ByteReader {
 public:
  explicit ByteReader(ByteSpan data) : data_(data) {}

  std::size_t remaining() const { return data_.size() - pos_; }
  std::size_t position() const { return pos_; }
  bool empty() const { return remaining() == 0; }

  [[nodiscard]] bool read_u8(std::uint8_t& out) { return read_be(out); }
  [[nodiscard]] bool read_u16(std::uint16_t& out) { return read_be(out); }
  [[nodiscard]] bool read_u32(std::uint32_t& out) { return read_be(out); }
  [[nodiscard]] bool read_u64(std::uint64_t& out) { return read_be(out); }

  // Takes the next n bytes as a view into the underlying buffer.
  [[nodiscard]] bool read_span(std::size_t n, ByteSpan& out) {
    if (n > remaining()) return false;
    out = data_.subspan(pos_, n);
    pos_ += n;
    return true;
  }

  [[nodiscard]] bool read_string(std::size_t n, std::string& out) {
    ByteSpan s;
    if (!read_span(n, s)) return false;
    out.assign(reinterpret_cast<const char*>(s.data()), s.size());
    return true;
  }

 private:
  template <class T>
  bool read_be(T& out) {
    if (sizeof(T) > remaining()) return false;
    T v = 0;
    for (std::size_t i = 0; i < sizeof(T); ++i) {
      v = static_cast<T>((v << 8) | data_[pos_ + i]);
    }
    out = v;
    pos_ += sizeof(T);
    return true;
  }

  ByteSpan data_;
  std::size_t pos_ = 0;
};

// Appends big-endian values to a byte vector the caller owns.
class ByteWriter {
 public:
  explicit ByteWriter(Bytes& out) : out_(out) {}

  std::size_t size() const { return out_.size(); }

  void u8(std::uint8_t v) { out_.push_back(v); }
  void u16(std::uint16_t v) { write_be(v); }
  void u32(std::uint32_t v) { write_be(v); }
  void u64(std::uint64_t v) { write_be(v); }

  void bytes(ByteSpan b) { out_.insert(out_.end(), b.begin(), b.end()); }
  void bytes(std::string_view s) {
    const auto* p = reinterpret_cast<const std::uint8_t*>(s.data());
    out_.insert(out_.end(), p, p + s.size());
  }

  // Overwrites a u32 written earlier, for lengths known only after the payload.
  void patch_u32(std::size_t pos, std::uint32_t v) {
    for (int i = 3; i >= 0; --i) {
      out_[pos + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(v);
      v >>= 8;
    }
  }

 private:
  template <class T>
  void write_be(T v) {
    // Grow, then fill in place: GCC 12 at -O3 misreads an insert of a small array as an
    // overflow (-Wstringop-overflow), and this is as fast.
    const std::size_t at = out_.size();
    out_.resize(at + sizeof(T));
    for (std::size_t i = sizeof(T); i-- > 0;) {
      out_[at + i] = static_cast<std::uint8_t>(v);
      v = static_cast<T>(v >> 8);
    }
  }

  Bytes& out_;
};

}  // namespace sluice
