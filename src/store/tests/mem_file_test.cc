#include "store/mem_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "store/errc.h"
#include "store/file.h"
#include "store/tests/test_util.h"

namespace sluice::store {
namespace {

using testing::bytes_of;
using testing::string_of;

std::string read_all(File& f) {
  Bytes buf(*f.size());
  EXPECT_EQ(*f.read_at(0, std::span<std::uint8_t>(buf)), buf.size());
  return string_of(buf);
}

TEST(MemFs, CrashDropsUnsyncedBytes) {
  auto fs = std::make_shared<MemFs>();
  MemDirectory dir(fs);
  auto f = dir.open("a", OpenMode::Create);
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->append(bytes_of("synced")).ok());
  ASSERT_TRUE((*f)->sync().ok());
  ASSERT_TRUE((*f)->append(bytes_of("-lost")).ok());
  EXPECT_EQ(read_all(**f), "synced-lost");
  fs->crash();
  EXPECT_EQ(read_all(**f), "synced");
}

TEST(MemFs, FailedSyncMakesNothingDurable) {
  auto fs = std::make_shared<MemFs>();
  MemDirectory dir(fs);
  auto f = dir.open("a", OpenMode::Create);
  ASSERT_TRUE((*f)->append(bytes_of("x")).ok());
  fs->fail_next_syncs(1);
  auto r = (*f)->sync();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, errc::io_error);
  fs->crash();
  EXPECT_EQ(*(*f)->size(), 0u);
}

TEST(MemFs, FailingAppendCanTearTheWrite) {
  auto fs = std::make_shared<MemFs>();
  MemDirectory dir(fs);
  auto f = dir.open("a", OpenMode::Create);
  fs->fail_appends(true, 3);
  EXPECT_FALSE((*f)->append(bytes_of("abcdef")).ok());
  EXPECT_EQ(read_all(**f), "abc");
}

TEST(PosixDirectory, CreatesListsRenamesAndRemovesFiles) {
  auto path =
      std::filesystem::temp_directory_path() / ("sluice-store-test-" + std::to_string(::getpid()));
  std::filesystem::remove_all(path);
  auto dir = open_posix_directory((path / "messages").string());
  ASSERT_TRUE(dir.ok()) << dir.error().detail;
  {
    auto f = (*dir)->open("a", OpenMode::Create);
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE((*f)->append(bytes_of("hello world")).ok());
    ASSERT_TRUE((*f)->sync().ok());
    ASSERT_TRUE((*f)->truncate(5).ok());
    EXPECT_EQ(read_all(**f), "hello");
  }
  EXPECT_FALSE((*dir)->open("a", OpenMode::Create).ok());
  ASSERT_TRUE((*dir)->rename("a", "b").ok());
  EXPECT_EQ(*(*dir)->list(), std::vector<std::string>{"b"});
  auto missing = (*dir)->open("a", OpenMode::Read);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, errc::not_found);
  ASSERT_TRUE((*dir)->remove("b").ok());
  ASSERT_TRUE((*dir)->sync().ok());
  EXPECT_TRUE((*dir)->list()->empty());
  std::filesystem::remove_all(path);
}

}  // namespace
}  // namespace sluice::store

namespace sluice::store {
namespace {

TEST(CreateDirectoriesDurably, CreatesMissingParentsAndIsIdempotent) {
  const auto root =
      std::filesystem::temp_directory_path() / ("sluice-mkdir-test-" + std::to_string(::getpid()));
  std::filesystem::remove_all(root);
  const auto deep = root / "a" / "b" / "c";
  ASSERT_TRUE(create_directories_durably(deep.string()).ok());
  EXPECT_TRUE(std::filesystem::is_directory(deep));
  EXPECT_TRUE(create_directories_durably(deep.string()).ok());

  // A file where a directory should be is an error that names the path.
  const auto file = root / "file";
  { std::ofstream(file) << "x"; }
  auto r = create_directories_durably((file / "d").string());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().detail.find(file.string()), std::string::npos) << r.error().detail;
  std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace sluice::store
