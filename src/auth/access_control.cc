#include "auth/access_control.h"

#include <openssl/crypto.h>

#include <fmt/format.h>

namespace sluice::auth {
namespace {

class AuthCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "auth"; }
  std::string message(int value) const override {
    switch (static_cast<errc>(value)) {
      case errc::bad_credentials: return "bad credentials";
      case errc::loopback_only: return "user may only connect via loopback";
      case errc::vhost_not_found: return "vhost not found";
      case errc::vhost_access_refused: return "vhost access refused";
    }
    return "unknown auth error";
  }
};

// Compares without leaking, through timing, how much of the secret matched.
bool equal_secret(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

const std::error_category& auth_category() {
  static const AuthCategory category;
  return category;
}

AccessControl::AccessControl(std::string default_user, std::string default_pass)
    : default_user_(std::move(default_user)), default_pass_(std::move(default_pass)) {}

Result<User> AccessControl::authenticate(std::string_view user, std::string_view password,
                                         const Peer& peer) const {
  if (user != default_user_ || !equal_secret(password, default_pass_)) {
    return Error{errc::bad_credentials, fmt::format("user '{}' could not log in", user)};
  }
  // As RabbitMQ's loopback_users default: the well-known default account is local-only.
  if (!peer.loopback) {
    return Error{errc::loopback_only,
                 fmt::format("user '{}' can only connect via localhost", user)};
  }
  return User{std::string(user)};
}

Result<void> AccessControl::check_vhost(const User& user, std::string_view vhost) const {
  if (vhost != "/") {
    return Error{errc::vhost_not_found, fmt::format("vhost {} not found", vhost)};
  }
  (void)user;  // every user may use "/" until permissions exist
  return ok();
}

}  // namespace sluice::auth
