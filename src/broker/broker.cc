#include "broker/broker.h"

#include <openssl/rand.h>

#include <array>

namespace sluice::broker {
namespace {

std::string random_token() {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::array<unsigned char, 24> random{};
  RAND_bytes(random.data(), static_cast<int>(random.size()));
  std::string token;
  for (unsigned char c : random) token += kAlphabet[c % 64];
  return token;
}

}  // namespace

std::string DirectReplyRegistry::add(Consumer* consumer) {
  for (;;) {
    std::string address = std::string(kAddressPrefix) + random_token();
    if (consumers_.emplace(address, consumer).second) return address;
  }
}

void DirectReplyRegistry::remove(const std::string& address) { consumers_.erase(address); }

Consumer* DirectReplyRegistry::find(std::string_view address) const {
  auto it = consumers_.find(std::string(address));
  return it == consumers_.end() ? nullptr : it->second;
}

Broker::Broker() { vhosts_.emplace("/", std::make_unique<VirtualHost>("/")); }

VirtualHost* Broker::vhost(std::string_view name) {
  auto it = vhosts_.find(name);
  return it == vhosts_.end() ? nullptr : it->second.get();
}

}  // namespace sluice::broker
