#include "store/log_format.h"

#include <fmt/format.h>
#include <xxhash.h>

#include <algorithm>
#include <charconv>

namespace sluice::store::log_format {

bool is_known_type(std::uint8_t type) {
  return type >= static_cast<std::uint8_t>(RecordType::Message) &&
         type <= static_cast<std::uint8_t>(RecordType::CleanStop);
}

const char* to_string(HeaderStatus s) {
  switch (s) {
    case HeaderStatus::Ok:
      return "ok";
    case HeaderStatus::Short:
      return "short_header";
    case HeaderStatus::BadMagic:
      return "bad_magic";
    case HeaderStatus::BadChecksum:
      return "header_checksum_mismatch";
    case HeaderStatus::NewerVersion:
      return "newer_version";
  }
  return "unknown";
}

std::uint32_t checksum(ByteSpan type_and_payload) {
  return static_cast<std::uint32_t>(XXH3_64bits(type_and_payload.data(), type_and_payload.size()));
}

void encode_header(SegmentId segment, Bytes& out) {
  std::size_t start = out.size();
  ByteWriter w(out);
  w.bytes(ByteSpan(kMagic));
  w.u32(kFormatVersion);
  w.u64(segment);
  w.u32(checksum(ByteSpan(out).subspan(start)));
}

HeaderStatus decode_header(ByteSpan bytes, SegmentHeader& out) {
  if (bytes.size() < kHeaderSize) return HeaderStatus::Short;
  if (!std::equal(kMagic.begin(), kMagic.end(), bytes.begin())) return HeaderStatus::BadMagic;

  ByteReader r(bytes.subspan(kMagic.size()));
  std::uint32_t stored = 0;
  bool read = r.read_u32(out.version) && r.read_u64(out.segment) && r.read_u32(stored);
  if (!read || stored != checksum(bytes.first(kHeaderSize - 4))) {
    return HeaderStatus::BadChecksum;
  }
  return out.version > kFormatVersion ? HeaderStatus::NewerVersion : HeaderStatus::Ok;
}

std::string segment_file_name(SegmentId segment) { return fmt::format("{:020}.seg", segment); }

bool parse_segment_file_name(std::string_view name, SegmentId& out) {
  constexpr std::size_t kDigits = 20;
  if (name.size() != kDigits + 4 || !name.ends_with(".seg")) return false;
  if (!std::all_of(name.begin(), name.begin() + kDigits,
                   [](char c) { return c >= '0' && c <= '9'; })) {
    return false;
  }
  auto [end, ec] = std::from_chars(name.data(), name.data() + kDigits, out);
  return ec == std::errc() && end == name.data() + kDigits;
}

bool parse_corrupt_file_name(std::string_view name, SegmentId& out) {
  if (!name.ends_with(kCorruptSuffix)) return false;
  return parse_segment_file_name(name.substr(0, name.size() - kCorruptSuffix.size()), out);
}

}  // namespace sluice::store::log_format
