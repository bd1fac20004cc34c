// sync_tracker: an LD_PRELOAD library that journals what a process made durable, so that a
// test can later throw away everything else and so simulate a power failure.
//
// After SIGKILL the page cache survives, so a crash test cannot tell a confirm sent after
// fdatasync from one sent before it. This library records, for each fsync or fdatasync that
// returns success, the file and its size when the call started: bytes written before the call
// are what it made durable. It also records the namespace operations whose durability needs a
// directory fsync (file creation, mkdir, unlink) and every directory fsync, all ordered by one
// sequence number. tests/integration/power_loss.py turns the journal into the disk image a
// power failure could leave; see there for the model and its limits.
//
// Environment:
//   SLUICE_SYNC_JOURNAL       journal file, appended to; unset: the library does nothing
//   SLUICE_SYNC_SNAPSHOTS     directory for file copies (below); on the data's filesystem
//   SLUICE_SYNC_SNAPSHOT_MAX  largest file copied at a sync, bytes (default 16 MiB)
//   SLUICE_SYNC_DELAY_US      sleep before each real fsync/fdatasync, microseconds (default 0);
//                             widens the window in which written data is not yet durable
//
// Journal: one line per event, `seq \t kind \t size \t snap \t path \n`, written with a single
// write() to an O_APPEND descriptor, so lines are whole and survive a SIGKILL of the process.
//   sync       a regular file's fsync/fdatasync returned 0; size = st_size when it started.
//              snap: "-" for a descriptor opened O_APPEND (the file only grows at its end, so
//              the size says it all); otherwise the name of a copy of the first `size` bytes
//              taken before the call, or "?" when no copy was taken (no directory, too big).
//   dsync      a directory's fsync returned 0
//   create     open() with O_CREAT made a new file; mkdir: a new directory
//   unlink     a file was removed; snap names a hard link to its inode, kept so that the file
//              can come back if the unlink was never made durable ("-": link failed)
//   unmodeled  a call the model does not cover (rename, sync, syncfs, msync, O_SYNC opens...);
//              the test refuses to judge a run that made one
// A sync's seq is taken before the real call and its line written after it returns, so an
// operation with a smaller seq finished before the sync began. A namespace operation's seq is
// taken after it finished.
//
// NOTE: only write, fstat, readlink, pread and friends run on the tracked paths: no stdio, no
// malloc, no locks beyond the one-time initialisation, so threads and SIGKILL are harmless.

#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdarg>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <ctime>

namespace {

using FdFn = int (*)(int);
using OpenatFn = int (*)(int, const char*, int, ...);
using MkdiratFn = int (*)(int, const char*, mode_t);
using UnlinkatFn = int (*)(int, const char*, int);
using LinkatFn = int (*)(int, const char*, int, const char*, int);

// The real functions. Resolved once, before any tracked call does work.
struct Real {
  FdFn fsync = nullptr;
  FdFn fdatasync = nullptr;
  OpenatFn openat = nullptr;
  MkdiratFn mkdirat = nullptr;
  UnlinkatFn unlinkat = nullptr;
  LinkatFn linkat = nullptr;
};

struct State {
  Real real;
  int journal = -1;    // -1: tracking is off
  int snapshots = -1;  // directory fd for copies; -1: no copies
  off_t snapshot_max = 16 << 20;
  long delay_us = 0;
  std::uint64_t seq = 0;  // atomic; the last number handed out
};

State g;
pthread_once_t g_once = PTHREAD_ONCE_INIT;

template <class F>
void resolve(F& slot, const char* name) {
  slot = reinterpret_cast<F>(dlsym(RTLD_NEXT, name));
}

long env_long(const char* name, long fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  return std::strtol(v, nullptr, 10);
}

void init_once() {
  resolve(g.real.fsync, "fsync");
  resolve(g.real.fdatasync, "fdatasync");
  resolve(g.real.openat, "openat");
  resolve(g.real.mkdirat, "mkdirat");
  resolve(g.real.unlinkat, "unlinkat");
  resolve(g.real.linkat, "linkat");
  g.snapshot_max = env_long("SLUICE_SYNC_SNAPSHOT_MAX", g.snapshot_max);
  g.delay_us = env_long("SLUICE_SYNC_DELAY_US", 0);

  const char* journal = std::getenv("SLUICE_SYNC_JOURNAL");
  if (journal == nullptr || *journal == '\0' || g.real.openat == nullptr) return;
  g.journal = g.real.openat(AT_FDCWD, journal, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (const char* snaps = std::getenv("SLUICE_SYNC_SNAPSHOTS"); snaps != nullptr && *snaps) {
    g.snapshots = g.real.openat(AT_FDCWD, snaps, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  }
}

// True if tracking is on. Every entry point calls this first.
bool tracking() {
  pthread_once(&g_once, init_once);
  return g.journal >= 0;
}

std::uint64_t next_seq() { return __atomic_add_fetch(&g.seq, 1, __ATOMIC_SEQ_CST); }

// A fixed buffer that a line is assembled in; long paths are cut, never overflowed.
struct Line {
  char buf[PATH_MAX + 128];
  std::size_t n = 0;

  void put(const char* s) {
    for (; *s != '\0' && n < sizeof buf - 1; ++s) buf[n++] = *s;
  }
  void put(std::uint64_t v) {
    char digits[24];
    int i = 0;
    do {
      digits[i++] = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v != 0);
    while (i > 0 && n < sizeof buf - 1) buf[n++] = digits[--i];
  }
  void tab() { put("\t"); }
};

// Writes one journal line; errno is the caller's afterwards.
void journal(std::uint64_t seq, const char* kind, std::uint64_t size, const char* snap,
             const char* path) {
  int saved = errno;
  Line line;
  line.put(seq);
  line.tab();
  line.put(kind);
  line.tab();
  line.put(size);
  line.tab();
  line.put(snap);
  line.tab();
  line.put(path);
  line.buf[line.n++] = '\n';
  // One write() on an O_APPEND fd: the line lands whole, after every earlier one.
  (void)!::write(g.journal, line.buf, line.n);
  errno = saved;
}

// The absolute path of an open descriptor, or false.
bool fd_path(int fd, char (&out)[PATH_MAX]) {
  Line proc;
  proc.put("/proc/self/fd/");
  proc.put(static_cast<std::uint64_t>(fd));
  proc.buf[proc.n] = '\0';
  ssize_t n = ::readlink(proc.buf, out, sizeof out - 1);
  if (n <= 0) return false;
  out[n] = '\0';
  return true;
}

// The absolute path of `path` relative to `dirfd`, without following a final symlink.
bool resolve_path(int dirfd, const char* path, int extra_flags, char (&out)[PATH_MAX]) {
  int fd = g.real.openat(dirfd, path, O_PATH | O_NOFOLLOW | O_CLOEXEC | extra_flags);
  if (fd < 0) return false;
  bool found = fd_path(fd, out);
  ::close(fd);
  return found;
}

void name_of(std::uint64_t seq, char (&out)[24]) {
  Line l;
  l.put(seq);
  std::memcpy(out, l.buf, l.n);
  out[l.n] = '\0';
}

// Copies the first `size` bytes of fd into the snapshot directory as `name`.
bool snapshot(int fd, off_t size, const char* name) {
  if (g.snapshots < 0 || size > g.snapshot_max) return false;
  int out = g.real.openat(g.snapshots, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (out < 0) return false;
  char buf[16384];
  off_t at = 0;
  bool ok = true;
  while (ok && at < size) {
    std::size_t want = static_cast<std::size_t>(
        size - at < static_cast<off_t>(sizeof buf) ? size - at : sizeof buf);
    ssize_t n = ::pread(fd, buf, want, at);
    if (n < 0 && errno == EINTR) continue;
    // A file cut shorter meanwhile is copied as far as it goes; the journal keeps `size`.
    if (n <= 0) break;
    for (ssize_t done = 0; ok && done < n;) {
      ssize_t w = ::write(out, buf + done, static_cast<std::size_t>(n - done));
      if (w < 0 && errno == EINTR) continue;
      ok = w > 0;
      done += w > 0 ? w : 0;
    }
    at += n;
  }
  ::close(out);
  if (!ok) g.real.unlinkat(g.snapshots, name, 0);
  return ok;
}

void delay() {
  if (g.delay_us <= 0) return;
  timespec ts{g.delay_us / 1000000, (g.delay_us % 1000000) * 1000};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

// fsync and fdatasync: what the file held when the call started is durable once it returns 0.
int tracked_sync(bool data_only, int fd) {
  bool on = tracking();
  FdFn real = data_only ? g.real.fdatasync : g.real.fsync;
  if (real == nullptr) return errno = ENOSYS, -1;
  if (!on) return real(fd);
  struct stat st {};
  char path[PATH_MAX];
  if (::fstat(fd, &st) != 0 || !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) ||
      !fd_path(fd, path)) {
    return real(fd);
  }
  std::uint64_t seq = next_seq();
  char snap[24] = "-";
  bool copied = false;
  if (S_ISREG(st.st_mode)) {
    int flags = ::fcntl(fd, F_GETFL);
    if (flags >= 0 && (flags & O_APPEND) == 0) {
      name_of(seq, snap);
      copied = snapshot(fd, st.st_size, snap);
      if (!copied) std::strcpy(snap, "?");
    }
  }

  delay();
  int rc = real(fd);
  if (rc == 0) {
    bool dir = S_ISDIR(st.st_mode);
    journal(seq, dir ? "dsync" : "sync", dir ? 0 : static_cast<std::uint64_t>(st.st_size), snap,
            path);
  } else if (copied) {
    int saved = errno;
    g.real.unlinkat(g.snapshots, snap, 0);
    errno = saved;
  }
  return rc;
}

void unmodeled(const char* call, const char* path) {
  if (!tracking()) return;
  journal(next_seq(), "unmodeled", 0, call, path != nullptr ? path : "-");
}

// open/openat with any flags: notes a file it created, and flags the model cannot follow.
int tracked_open(int dirfd, const char* path, int flags, mode_t mode) {
  if (!tracking()) {
    if (g.real.openat == nullptr) return errno = ENOSYS, -1;
    return g.real.openat(dirfd, path, flags, mode);
  }
  bool existed = true;
  if ((flags & O_CREAT) != 0) {
    struct stat st {};
    existed = ::fstatat(dirfd, path, &st, 0) == 0 || errno != ENOENT;
  }
  int fd = g.real.openat(dirfd, path, flags, mode);
  if (fd < 0) return fd;

  char full[PATH_MAX];
  if (fd_path(fd, full)) {
    if (!existed) journal(next_seq(), "create", 0, "-", full);
    // O_DSYNC writes are durable one by one, which the journal never sees; O_TRUNC drops
    // durable bytes without a sync. Neither is used by the broker today.
    if ((flags & O_DSYNC) != 0) unmodeled("O_SYNC", full);
    if ((flags & O_TRUNC) != 0 && existed) unmodeled("O_TRUNC", full);
  }
  return fd;
}

mode_t mode_arg(int flags, va_list ap) {
  // The mode is only passed with O_CREAT or O_TMPFILE.
  if ((flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE) return va_arg(ap, mode_t);
  return 0;
}

int tracked_mkdir(int dirfd, const char* path, mode_t mode) {
  if (!tracking() || g.real.mkdirat == nullptr) {
    return g.real.mkdirat != nullptr ? g.real.mkdirat(dirfd, path, mode) : (errno = ENOSYS, -1);
  }
  int rc = g.real.mkdirat(dirfd, path, mode);
  if (rc != 0) return rc;
  int saved = errno;
  char full[PATH_MAX];
  if (resolve_path(dirfd, path, O_DIRECTORY, full)) journal(next_seq(), "mkdir", 0, "-", full);
  errno = saved;
  return rc;
}

// unlink of a file: keeps its inode under a hard link first, so it can come back.
int tracked_unlink(int dirfd, const char* path, int flags) {
  if (!tracking() || g.real.unlinkat == nullptr) {
    return g.real.unlinkat != nullptr ? g.real.unlinkat(dirfd, path, flags) : (errno = ENOSYS, -1);
  }
  char full[PATH_MAX];
  if (!resolve_path(dirfd, path, 0, full)) return g.real.unlinkat(dirfd, path, flags);
  if ((flags & AT_REMOVEDIR) != 0) {
    int rc = g.real.unlinkat(dirfd, path, flags);
    if (rc == 0) unmodeled("rmdir", full);
    return rc;
  }

  char keep[24] = "-";
  bool linked = false;
  if (g.snapshots >= 0 && g.real.linkat != nullptr) {
    name_of(next_seq(), keep);
    linked = g.real.linkat(dirfd, path, g.snapshots, keep, 0) == 0;
    if (!linked) std::strcpy(keep, "-");
  }
  int rc = g.real.unlinkat(dirfd, path, flags);
  int saved = errno;
  if (rc == 0) {
    journal(next_seq(), "unlink", 0, keep, full);
  } else if (linked) {
    g.real.unlinkat(g.snapshots, keep, 0);
  }
  errno = saved;
  return rc;
}

}  // namespace

// --- the interposed entry points ---

extern "C" {

int fsync(int fd) { return tracked_sync(false, fd); }

int fdatasync(int fd) { return tracked_sync(true, fd); }

int open(const char* path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  return tracked_open(AT_FDCWD, path, flags, mode);
}

int open64(const char* path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  return tracked_open(AT_FDCWD, path, flags, mode);
}

int openat(int dirfd, const char* path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  return tracked_open(dirfd, path, flags, mode);
}

int openat64(int dirfd, const char* path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  return tracked_open(dirfd, path, flags, mode);
}

int creat(const char* path, mode_t mode) {
  return tracked_open(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}

int creat64(const char* path, mode_t mode) {
  return tracked_open(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}

int mkdir(const char* path, mode_t mode) { return tracked_mkdir(AT_FDCWD, path, mode); }

int mkdirat(int dirfd, const char* path, mode_t mode) { return tracked_mkdir(dirfd, path, mode); }

int unlink(const char* path) { return tracked_unlink(AT_FDCWD, path, 0); }

int unlinkat(int dirfd, const char* path, int flags) { return tracked_unlink(dirfd, path, flags); }

int rmdir(const char* path) { return tracked_unlink(AT_FDCWD, path, AT_REMOVEDIR); }

// remove(3) calls unlink or rmdir inside libc, where this library cannot see it.
int remove(const char* path) {
  struct stat st {};
  bool dir = ::lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
  return tracked_unlink(AT_FDCWD, path, dir ? AT_REMOVEDIR : 0);
}

// Calls whose durability effects the model does not follow: journaled, then passed on.

int rename(const char* from, const char* to) {
  using Fn = int (*)(const char*, const char*);
  static Fn real = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "rename"));
  unmodeled("rename", from);
  return real(from, to);
}

int renameat(int fromfd, const char* from, int tofd, const char* to) {
  using Fn = int (*)(int, const char*, int, const char*);
  static Fn real = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "renameat"));
  unmodeled("renameat", from);
  return real(fromfd, from, tofd, to);
}

int renameat2(int fromfd, const char* from, int tofd, const char* to, unsigned flags) {
  using Fn = int (*)(int, const char*, int, const char*, unsigned);
  static Fn real = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "renameat2"));
  unmodeled("renameat2", from);
  return real(fromfd, from, tofd, to, flags);
}

void sync() {
  using Fn = void (*)();
  static Fn real = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "sync"));
  unmodeled("sync", nullptr);
  real();
}

int syncfs(int fd) {
  using Fn = int (*)(int);
  static Fn real = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "syncfs"));
  unmodeled("syncfs", nullptr);
  return real(fd);
}

int sync_file_range(int fd, off64_t offset, off64_t nbytes, unsigned flags) {
  using Fn = int (*)(int, off64_t, off64_t, unsigned);
  static Fn real = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "sync_file_range"));
  unmodeled("sync_file_range", nullptr);
  return real(fd, offset, nbytes, flags);
}

int msync(void* addr, size_t length, int flags) {
  using Fn = int (*)(void*, size_t, int);
  static Fn real = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "msync"));
  unmodeled("msync", nullptr);
  return real(addr, length, flags);
}

}  // extern "C"
