#pragma once

// AccessControl: the one place where every client operation is checked.
//
// The AMQP layer asks it before it lets a login, a vhost, or (later) an operation on a
// resource proceed; nothing else decides who may do what. Today it knows one user, the
// configured default (guest/guest unless changed), allowed only from loopback addresses as
// RabbitMQ does, and one vhost, "/". Users with hashed passwords, vhosts and per-user
// configure/write/read permissions arrive with the security work and slot in behind these
// same calls. Thread-safe: it is immutable after construction.

#include <string>
#include <string_view>

#include "common/result.h"

namespace sluice::auth {

enum class errc {
  bad_credentials = 1,   // unknown user or wrong password
  loopback_only,         // a loopback-only user connecting from elsewhere
  vhost_not_found,
  vhost_access_refused,
};

const std::error_category& auth_category();
inline std::error_code make_error_code(errc e) { return {static_cast<int>(e), auth_category()}; }

struct User {
  std::string name;
};

struct Peer {
  bool loopback = false;  // connecting from 127.0.0.0/8 or ::1
};

class AccessControl {
 public:
  AccessControl(std::string default_user, std::string default_pass);

  Result<User> authenticate(std::string_view user, std::string_view password,
                            const Peer& peer) const;
  Result<void> check_vhost(const User& user, std::string_view vhost) const;

 private:
  std::string default_user_;
  std::string default_pass_;
};

}  // namespace sluice::auth

template <>
struct std::is_error_code_enum<sluice::auth::errc> : std::true_type {};
