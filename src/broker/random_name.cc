#include "broker/random_name.h"

#include <openssl/rand.h>

#include <vector>

namespace sluice::broker {

std::string random_name(std::string_view prefix, std::size_t random_chars) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::vector<unsigned char> random(random_chars);
  RAND_bytes(random.data(), static_cast<int>(random.size()));
  std::string name(prefix);
  for (unsigned char c : random) name += kAlphabet[c % 64];  // 256 is a multiple of 64
  return name;
}

}  // namespace sluice::broker
