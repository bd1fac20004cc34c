#include "auth/access_control.h"

#include <gtest/gtest.h>

#include <asio/ip/address.hpp>

#include "net/stream.h"

namespace sluice::auth {
namespace {

TEST(AccessControl, DefaultUserLogsInFromLoopback) {
  AccessControl access("guest", "guest");
  auto user = access.authenticate("guest", "guest", {.loopback = true});
  ASSERT_TRUE(user.ok());
  EXPECT_EQ(user->name, "guest");
}

TEST(AccessControl, DefaultUserIsRefusedFromElsewhere) {
  AccessControl access("guest", "guest");
  auto user = access.authenticate("guest", "guest", {.loopback = false});
  ASSERT_FALSE(user.ok());
  EXPECT_EQ(user.error().code, errc::loopback_only);
  EXPECT_NE(user.error().detail.find("can only connect via localhost"), std::string::npos);
}

TEST(AccessControl, WrongPasswordAndUnknownUserAreRefused) {
  AccessControl access("guest", "guest");
  EXPECT_EQ(access.authenticate("guest", "guesT", {.loopback = true}).error().code,
            errc::bad_credentials);
  EXPECT_EQ(access.authenticate("guest", "", {.loopback = true}).error().code,
            errc::bad_credentials);
  EXPECT_EQ(access.authenticate("admin", "guest", {.loopback = true}).error().code,
            errc::bad_credentials);
}

TEST(AccessControl, OnlyTheDefaultVhostExists) {
  AccessControl access("guest", "guest");
  const User guest{"guest"};
  EXPECT_TRUE(access.check_vhost(guest, "/").ok());
  EXPECT_EQ(access.check_vhost(guest, "other").error().code, errc::vhost_not_found);
}

// The loopback test that decides where the default user may log in from.
TEST(Loopback, RecognisesEveryLoopbackForm) {
  for (const char* a : {"127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"}) {
    EXPECT_TRUE(net::is_loopback(asio::ip::make_address(a))) << a;
  }
  for (const char* a : {"10.0.0.1", "192.168.1.1", "::ffff:10.0.0.1", "fe80::1", "::"}) {
    EXPECT_FALSE(net::is_loopback(asio::ip::make_address(a))) << a;
  }
}

}  // namespace
}  // namespace sluice::auth
