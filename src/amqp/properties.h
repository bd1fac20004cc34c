#pragma once

// The content header frame and the 14 basic content properties.
//
// Property flags are a sequence of 16-bit words: bits 15..1 of each word flag one property in
// spec order, bit 0 says another flag word follows. Basic has 14 properties, so one word
// suffices, but decoding accepts (and ignores the extra bits of) continuation words, as the
// spec allows for future properties.

#include <cstdint>
#include <optional>
#include <string>

#include "amqp/field_table.h"
#include "common/bytes.h"
#include "common/result.h"

namespace sluice::amqp {

struct BasicProperties {
  std::optional<std::string> content_type;
  std::optional<std::string> content_encoding;
  std::optional<FieldTable> headers;
  std::optional<std::uint8_t> delivery_mode;
  std::optional<std::uint8_t> priority;
  std::optional<std::string> correlation_id;
  std::optional<std::string> reply_to;
  std::optional<std::string> expiration;
  std::optional<std::string> message_id;
  std::optional<std::uint64_t> timestamp;
  std::optional<std::string> type;
  std::optional<std::string> user_id;
  std::optional<std::string> app_id;
  std::optional<std::string> cluster_id;

  bool operator==(const BasicProperties&) const = default;
};

struct ContentHeader {
  std::uint16_t class_id = 60;
  std::uint16_t weight = 0;
  std::uint64_t body_size = 0;
  BasicProperties properties;

  bool operator==(const ContentHeader&) const = default;
};

// Decodes the payload of a content header frame. FRAME_ERROR on truncation or trailing bytes.
Result<ContentHeader> decode_content_header(ByteSpan payload);

// Encodes a content header frame payload (class id, weight, body size, flags, properties).
void encode_content_header(ByteWriter& out, const ContentHeader& header);

}  // namespace sluice::amqp
