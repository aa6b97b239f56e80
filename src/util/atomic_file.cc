#include "util/atomic_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <optional>
#include <system_error>
#include <vector>

#include "util/error.h"

namespace qvit {
namespace {

namespace fs = std::filesystem;

// Thread-safe, unlike strerror: "No space left on device", "File too large", ...
std::string errno_text(int err) { return std::generic_category().message(err); }

// ---------------------------------------------------------------------------------------------
// Registry of in-flight temporary files, read by the signal handler. A fixed array of slots with
// lock-free atomic states (no allocation, no mutex: a handler may interrupt the very thread that
// holds a lock). The path lives inside the slot, so the handler never reads memory a writer frees.

constexpr int kSlots = 16;             // concurrent writes beyond this are covered by the stale cleanup
constexpr size_t kMaxTempPath = 4096;  // PATH_MAX on Linux
enum SlotState : int { kFree = 0, kFilling = 1, kArmed = 2, kInHandler = 3 };

struct Slot {
  std::atomic<int> state{kFree};
  pid_t owner = 0;  // after fork() a child must not unlink its parent's temporaries
  char path[kMaxTempPath];
};
static_assert(std::atomic<int>::is_always_lock_free, "the signal handler needs lock-free atomics");

Slot g_slots[kSlots];
std::atomic<atomic_file_testing::TempCreatedHook> g_temp_created_hook{nullptr};

// Signals whose default action kills the process and that a user (Ctrl-C, `kill`, a closed
// terminal, a scheduler's time or file-size limit) commonly sends during a long write.
constexpr std::array<int, 6> kCleanupSignals = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGXCPU, SIGXFSZ};

extern "C" void unlink_temps_and_reraise(int sig) {
  const int saved_errno = errno;
  const pid_t self = ::getpid();
  for (Slot& s : g_slots) {
    int expected = kArmed;
    // Taking the slot (Armed -> InHandler) stops its writer from reusing the path buffer while it
    // is read here. It stays taken: the process dies right below.
    if (s.state.compare_exchange_strong(expected, kInHandler, std::memory_order_acq_rel) && s.owner == self)
      ::unlink(s.path);
  }
  // Default action and re-raise, so the exit status still reports death by this signal.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  ::sigaction(sig, &dfl, nullptr);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  ::pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  ::raise(sig);
  errno = saved_errno;
}

void install_signal_cleanup_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    for (const int sig : kCleanupSignals) {
      struct sigaction old {};
      if (::sigaction(sig, nullptr, &old) != 0) continue;
      // Only signals still at their default action: an ignored SIGHUP (nohup) must stay ignored,
      // and a handler the embedding program installed is its business.
      if ((old.sa_flags & SA_SIGINFO) != 0 || old.sa_handler != SIG_DFL) continue;
      struct sigaction sa {};
      sa.sa_handler = unlink_temps_and_reraise;
      sigfillset(&sa.sa_mask);  // no other signal interleaves with the cleanup
      sa.sa_flags = SA_RESTART;
      ::sigaction(sig, &sa, nullptr);
    }
  });
}

// One registered temporary path; the destructor unregisters it.
class Registration {
 public:
  Registration() = default;
  Registration(const Registration&) = delete;
  Registration& operator=(const Registration&) = delete;
  ~Registration() { disarm(); }

  // Registered BEFORE the file is created, so no signal can fall between creation and
  // registration (unlinking a path that does not exist yet is harmless). A path too long or a
  // full registry is simply not registered: the next write's stale cleanup removes the file if
  // the process gets killed.
  void arm(const std::string& path) {
    disarm();
    if (path.size() >= kMaxTempPath) return;
    for (int i = 0; i < kSlots; ++i) {
      int expected = kFree;
      if (!g_slots[i].state.compare_exchange_strong(expected, kFilling, std::memory_order_acquire)) continue;
      g_slots[i].owner = ::getpid();
      std::memcpy(g_slots[i].path, path.c_str(), path.size() + 1);
      g_slots[i].state.store(kArmed, std::memory_order_release);
      slot_ = i;
      return;
    }
  }
  void disarm() {
    if (slot_ < 0) return;
    int expected = kArmed;
    // Fails only if a signal handler has taken the slot; the process is then being killed.
    g_slots[slot_].state.compare_exchange_strong(expected, kFree, std::memory_order_acq_rel);
    slot_ = -1;
  }

 private:
  int slot_ = -1;
};

// ---------------------------------------------------------------------------------------------
// Target checks.

struct Target {
  std::string dir;                  // absolute folder of the target
  std::string name;                 // file name of the target
  std::optional<mode_t> existing;   // mode of the regular file already at the target, if any
};

// lstat, never stat or open: a symlink is judged as itself (never followed) and a FIFO is never
// opened (that would block until a reader comes). Returns the mode of an existing regular file,
// nullopt for a missing one; throws for anything else. `lstat_errno` gets the lstat failure.
std::optional<mode_t> check_target_kind(const std::string& path, int& lstat_errno) {
  struct stat st {};
  lstat_errno = 0;
  if (::lstat(path.c_str(), &st) != 0) {
    lstat_errno = errno;
    return std::nullopt;
  }
  const mode_t m = st.st_mode;
  if (S_ISREG(m)) return m;
  if (S_ISLNK(m)) {
    std::array<char, kMaxTempPath> buf{};
    const ssize_t n = ::readlink(path.c_str(), buf.data(), buf.size() - 1);
    const std::string to = n >= 0 ? std::string(buf.data(), static_cast<size_t>(n)) : std::string("an unreadable target");
    throw Error(path + ": refusing to write: it is a symbolic link (to " + to + "); pass the real path");
  }
  if (S_ISDIR(m)) throw Error(path + ": cannot write: it is a folder");
  const char* kind = S_ISFIFO(m)   ? "a FIFO"
                     : S_ISCHR(m)  ? "a character device"
                     : S_ISBLK(m)  ? "a block device"
                     : S_ISSOCK(m) ? "a socket"
                                   : "a special file";
  throw Error(path + ": refusing to write: it is " + kind + ", not a regular file");
}

Target check_target(const std::string& path) {
  if (path.empty()) throw Error("cannot write: the output path is empty");
  Target t;
  int lstat_errno = 0;
  // The target's own kind first: `-o /dev/null` says "character device", not "/dev is not writable".
  t.existing = check_target_kind(path, lstat_errno);

  std::error_code ec;
  const fs::path abs = fs::absolute(fs::path(path), ec);
  if (ec) throw Error(path + ": cannot write: " + ec.message());
  t.dir = abs.parent_path().string();
  t.name = abs.filename().string();
  struct stat dst {};
  if (::stat(t.dir.c_str(), &dst) != 0) {
    const int err = errno;
    if (err == ENOENT) throw Error(path + ": cannot write: folder " + t.dir + " does not exist");
    if (err != ENOTDIR) throw Error(path + ": cannot write: folder " + t.dir + ": " + errno_text(err));
  }
  if (!S_ISDIR(dst.st_mode)) throw Error(path + ": cannot write: " + t.dir + " is not a folder");
  if (::access(t.dir.c_str(), W_OK | X_OK) != 0) throw Error(path + ": cannot write: folder " + t.dir + " is not writable");
  if (lstat_errno != 0 && lstat_errno != ENOENT) throw Error(path + ": cannot write: " + errno_text(lstat_errno));
  if (t.name.empty() || t.name == "." || t.name == "..") throw Error(path + ": cannot write: it is a folder");
  return t;
}

// ---------------------------------------------------------------------------------------------
// Temporary files.

// `.<name>.qvit-tmp.` — hidden, and specific to one target so the stale cleanup never touches
// another target's files. A long name is cut so that the temporary name fits NAME_MAX (255); two
// targets sharing the first 200 bytes then share stale cleanup, which only removes dead writers'
// leftovers anyway.
// Built by append: GCC 12 misreports "." + string as -Wrestrict.
std::string temp_prefix(const std::string& name) { return std::string(".").append(name, 0, 200).append(".qvit-tmp."); }

// SIGKILL cannot be caught: a temporary left by a killed writer is removed by the next write of
// the same target, once that writer's pid no longer exists (ESRCH; EPERM means it is alive under
// another user). Best effort: any failure here just leaves the file.
void remove_stale_temps(const std::string& dir, const std::string& prefix) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return;
  const pid_t self = ::getpid();
  std::vector<std::string> stale;
  while (const dirent* e = ::readdir(d)) {
    const std::string_view name = e->d_name;
    if (!name.starts_with(prefix)) continue;
    // <pid>.<counter>, both decimal.
    const std::string_view rest = name.substr(prefix.size());
    long long pid = 0;
    const auto [p, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), pid);
    if (ec != std::errc() || p == rest.data() || p == rest.data() + rest.size() || *p != '.') continue;
    const std::string_view counter = rest.substr(static_cast<size_t>(p - rest.data()) + 1);
    if (counter.empty() || !std::all_of(counter.begin(), counter.end(), [](char c) { return c >= '0' && c <= '9'; })) continue;
    if (pid <= 0 || pid > INT_MAX || pid == self) continue;
    if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;
    stale.emplace_back(name);
  }
  const int dfd = ::dirfd(d);
  for (const std::string& name : stale) {  // unlinked after the scan: readdir and unlink do not mix well
    struct stat st {};
    if (::fstatat(dfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode)) ::unlinkat(dfd, name.c_str(), 0);
  }
  ::closedir(d);
}

// The temporary file of one write: created with O_EXCL (so never through a planted symlink or
// onto someone else's file), registered for the signal handler, and removed by the destructor
// unless it was renamed into place: every error path, exceptions included, cleans up.
class TempFile {
 public:
  TempFile(const Target& t, const std::string& target_path) {
    static std::atomic<unsigned long long> counter{0};
    const std::string stem = t.dir + (t.dir.ends_with('/') ? "" : "/") + temp_prefix(t.name) + std::to_string(::getpid()) + ".";
    for (int attempt = 0;; ++attempt) {
      path_ = stem + std::to_string(counter.fetch_add(1));
      reg_.arm(path_);
      fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0666);  // 0666 minus the umask
      if (fd_ >= 0) break;
      const int err = errno;
      reg_.disarm();
      // EEXIST: a leftover of an earlier process that had our pid; take the next number.
      if ((err == EEXIST || err == EINTR) && attempt < 100) continue;
      throw Error(target_path + ": cannot write: cannot create a temporary file in " + t.dir + ": " + errno_text(err));
    }
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(path_.c_str());
    // reg_ is disarmed after this body, so the handler covers the file until it is gone.
  }

  int fd() const { return fd_; }
  const std::string& path() const { return path_; }
  // Close, reporting the error (on NFS a failed write may first show here). EINTR: on Linux the
  // descriptor is closed anyway, and the data was fsync'ed before.
  int close() {
    const int rc = ::close(fd_);
    fd_ = -1;
    return rc == 0 || errno == EINTR ? 0 : errno;
  }
  void committed() {
    committed_ = true;
    reg_.disarm();
  }

 private:
  Registration reg_;
  std::string path_;
  int fd_ = -1;
  bool committed_ = false;
};

void write_all(int fd, std::string_view bytes, const std::string& target_path) {
  size_t off = 0;
  while (off < bytes.size()) {
    // Linux writes at most ~2 GiB per call; short writes (signals, RLIMIT_FSIZE, a full disk) loop.
    const size_t chunk = std::min<size_t>(bytes.size() - off, size_t{1} << 30);
    const ssize_t n = ::write(fd, bytes.data() + off, chunk);
    if (n < 0) {
      const int err = errno;
      if (err == EINTR) continue;
      throw Error(target_path + ": cannot write: " + errno_text(err));
    }
    if (n == 0) throw Error(target_path + ": cannot write: the file system accepted no bytes");
    off += static_cast<size_t>(n);
  }
}

void fsync_or_throw(int fd, const std::string& target_path) {
  while (::fsync(fd) != 0) {
    const int err = errno;
    if (err == EINTR) continue;
    throw Error(target_path + ": cannot write: flushing to disk failed: " + errno_text(err));
  }
}

// After the rename: make the new directory entry durable. Best effort where a folder cannot be
// opened for reading or its file system does not sync folders (EINVAL); a real I/O error is
// reported, though the new file is already in place.
void fsync_folder(const std::string& dir, const std::string& target_path) {
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return;
  int err = 0;
  while (::fsync(dfd) != 0) {
    err = errno;
    if (err != EINTR) break;
    err = 0;
  }
  ::close(dfd);
  if (err != 0 && err != EINVAL && err != ENOTSUP && err != EROFS)
    throw Error(target_path + ": written, but syncing folder " + dir + " to disk failed: " + errno_text(err));
}

}  // namespace

namespace atomic_file_testing {
void set_temp_created_hook(TempCreatedHook hook) { g_temp_created_hook.store(hook); }
}  // namespace atomic_file_testing

void check_writable(const std::string& path) { check_target(path); }

void write_file_atomic(const std::string& path, std::string_view bytes) {
  install_signal_cleanup_once();
  const Target t = check_target(path);
  remove_stale_temps(t.dir, temp_prefix(t.name));
  TempFile tmp(t, path);
  if (const auto hook = g_temp_created_hook.load()) hook(tmp.path());
  // The replaced file's permission bits, not the umask's: `chmod 600 secret.calib.json` stays so.
  if (t.existing && ::fchmod(tmp.fd(), *t.existing & 0777) != 0) {
    const int err = errno;
    throw Error(path + ": cannot write: cannot keep the permission bits of the existing file: " + errno_text(err));
  }
  write_all(tmp.fd(), bytes, path);
  fsync_or_throw(tmp.fd(), path);
  if (const int err = tmp.close(); err != 0) throw Error(path + ": cannot write: " + errno_text(err));
  // Again right before the rename: narrows the window in which a symlink or device swapped in at
  // the target would be replaced.
  int lstat_errno = 0;
  check_target_kind(path, lstat_errno);
  if (::rename(tmp.path().c_str(), path.c_str()) != 0) {
    const int err = errno;
    throw Error(path + ": cannot write: cannot rename the temporary file into place: " + errno_text(err));
  }
  tmp.committed();
  fsync_folder(t.dir, path);
}

}  // namespace qvit
