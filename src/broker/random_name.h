#pragma once

// Server-generated names (amq.gen-… queues, amq.ctag-… consumer tags, reply-to tokens):
// a prefix followed by url-safe base64 characters from a cryptographic random source, so
// names cannot be guessed by other clients.

#include <cstddef>
#include <string>
#include <string_view>

namespace sluice::broker {

std::string random_name(std::string_view prefix, std::size_t random_chars);

}  // namespace sluice::broker
