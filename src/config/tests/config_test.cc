#include "config/config.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

namespace sluice::config {
namespace {

class ConfigLoad : public ::testing::Test {
 protected:
  void TearDown() override {
    for (const char* v : {"SLUICE_AMQP_PORT", "SLUICE_CONFIG", "SLUICE_LOG_LEVEL"}) unsetenv(v);
    std::filesystem::remove(file_);
  }

  std::string write_toml(const std::string& text) {
    std::ofstream(file_) << text;
    return file_.string();
  }

  LoadResult load_args(std::vector<std::string> args) {
    args.insert(args.begin(), "sluice");
    std::vector<const char*> argv;
    for (const auto& a : args) argv.push_back(a.c_str());
    return load(static_cast<int>(argv.size()), argv.data());
  }

  std::filesystem::path file_ = std::filesystem::temp_directory_path() /
                                ("sluice-config-test-" + std::to_string(getpid()) + ".toml");
};

TEST_F(ConfigLoad, DefaultsMatchRabbitMq) {
  const Config c = load_args({}).config;
  EXPECT_EQ(c.amqp_port, 5672);
  EXPECT_EQ(c.http_port, 15672);
  EXPECT_EQ(c.heartbeat, 60u);
  EXPECT_EQ(c.frame_max, 131072u);
  EXPECT_EQ(c.channel_max, 2047u);
  EXPECT_EQ(c.default_user, "guest");
}

TEST_F(ConfigLoad, FileThenEnvironmentThenFlags) {
  const std::string f = write_toml("data_dir = \"/tmp/d\"\n[amqp]\nport = 1111\nheartbeat = 5\n");
  Config c = load_args({"--config", f}).config;
  EXPECT_EQ(c.amqp_port, 1111);
  EXPECT_EQ(c.heartbeat, 5u);
  EXPECT_EQ(c.data_dir, "/tmp/d");

  setenv("SLUICE_AMQP_PORT", "2222", 1);
  c = load_args({"--config", f}).config;
  EXPECT_EQ(c.amqp_port, 2222);

  c = load_args({"--config", f, "--amqp-port", "3333"}).config;
  EXPECT_EQ(c.amqp_port, 3333);
  EXPECT_EQ(c.heartbeat, 5u);
}

TEST_F(ConfigLoad, ConfigFileFromEnvironment) {
  setenv("SLUICE_CONFIG", write_toml("[log]\nlevel = \"debug\"\n").c_str(), 1);
  EXPECT_EQ(load_args({}).config.log_level, spdlog::level::debug);
}

TEST_F(ConfigLoad, UnknownKeyIsNamed) {
  const std::string f = write_toml("[amqp]\nprot = 1\n");
  try {
    load_args({"--config", f});
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown setting 'amqp.prot'"), std::string::npos)
        << e.what();
  }
}

TEST_F(ConfigLoad, WrongTypeIsNamed) {
  const std::string f = write_toml("[amqp]\nport = \"5672\"\n");
  try {
    load_args({"--config", f});
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("amqp.port: expected an integer"), std::string::npos)
        << e.what();
  }
}

TEST_F(ConfigLoad, OutOfRangeValuesAreRefused) {
  EXPECT_THROW(load_args({"--amqp-port", "70000"}), ConfigError);
  EXPECT_THROW(load_args({"--frame-max", "100"}), ConfigError);
  EXPECT_THROW(load_args({"--heartbeat", "-1"}), ConfigError);
  EXPECT_THROW(load_args({"--bind", "not-an-address"}), ConfigError);
  EXPECT_THROW(load_args({"--log-level", "loud"}), ConfigError);
  setenv("SLUICE_AMQP_PORT", "abc", 1);
  EXPECT_THROW(load_args({}), ConfigError);
}

TEST_F(ConfigLoad, MissingAndMalformedFilesAreRefused) {
  EXPECT_THROW(load_args({"--config", "/nonexistent/sluice.toml"}), ConfigError);
  EXPECT_THROW(load_args({"--config", write_toml("[amqp\nport = 1\n")}), ConfigError);
}

TEST_F(ConfigLoad, HelpAndVersionAskToExit) {
  EXPECT_EQ(load_args({"--version"}).action, Action::ExitSuccess);
  const LoadResult help = load_args({"--help"});
  EXPECT_EQ(help.action, Action::ExitSuccess);
  EXPECT_NE(help.output.find("--amqp-port"), std::string::npos);
}

}  // namespace
}  // namespace sluice::config
