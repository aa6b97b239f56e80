// Output safety of write_file_atomic / check_writable: only regular files are written or replaced
// (symlinks, FIFOs, devices, sockets and folders are refused by lstat alone), permission bits
// survive a replace, and no temporary file outlives a write: not after success, not after a
// refusal or a failing write, not after a catchable kill, and a SIGKILLed writer's leftover is
// removed by the next write of the same target.
#include "util/atomic_file.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "temp_dir.h"
#include "util/error.h"

namespace fs = std::filesystem;

namespace {

using qvit::check_writable;
using qvit::Error;
using qvit::write_file_atomic;
using qvit::test::TempDir;

std::string read_all(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Everything in `dir` that looks like a temporary of ours or of the old `x.tmp.<pid>` scheme.
std::vector<std::string> temps_in(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.find(".qvit-tmp.") != std::string::npos || name.find(".tmp.") != std::string::npos) out.push_back(name);
  }
  return out;
}

// The Error message of `f()`, or "" when it does not throw.
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// Both entry points refuse `p` with `needle`, and nothing is left behind.
void expect_refused(const fs::path& p, const std::string& needle) {
  const std::string a = error_of([&] { check_writable(p.string()); });
  const std::string b = error_of([&] { write_file_atomic(p.string(), "data"); });
  for (const std::string& msg : {a, b}) {
    EXPECT_EQ(msg.rfind(p.string() + ": ", 0), 0u) << "the message names the target: " << msg;
    EXPECT_NE(msg.find(needle), std::string::npos) << "expected '" << needle << "' in: " << msg;
  }
  EXPECT_TRUE(temps_in(p.parent_path()).empty());
}

mode_t perms_of(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p;
  return st.st_mode & 07777;
}

TEST(AtomicFile, WritesAndReplacesARegularFile) {
  TempDir t;
  const fs::path p = t.path() / "out.bin";
  write_file_atomic(p.string(), "first");
  EXPECT_EQ(read_all(p), "first");
  write_file_atomic(p.string(), std::string("sec\0nd", 6));
  EXPECT_EQ(read_all(p), std::string("sec\0nd", 6));
  write_file_atomic(p.string(), "");
  EXPECT_TRUE(fs::is_regular_file(p));
  EXPECT_EQ(fs::file_size(p), 0u);
  // A relative path (the CLI passes `-o c.json` as given) and a big buffer.
  const fs::path cwd = fs::current_path();
  fs::current_path(t.path());
  const std::string big(3 << 20, 'x');
  EXPECT_NO_THROW(write_file_atomic("rel.bin", big));
  fs::current_path(cwd);
  EXPECT_EQ(read_all(t.path() / "rel.bin"), big);
  EXPECT_TRUE(temps_in(t.path()).empty());
}

TEST(AtomicFile, NewFileGets0666MinusTheUmask) {
  TempDir t;
  const mode_t old = ::umask(027);
  write_file_atomic((t.path() / "a").string(), "x");
  ::umask(old);
  EXPECT_EQ(perms_of(t.path() / "a"), 0640u);
}

TEST(AtomicFile, KeepsThePermissionBitsOfAnExistingTarget) {
  TempDir t;
  const fs::path p = t.path() / "secret.calib.json";
  for (const mode_t mode : {0600, 0640, 0755, 0444}) {
    write_file_atomic(p.string(), "old");
    ASSERT_EQ(::chmod(p.c_str(), mode), 0);
    write_file_atomic(p.string(), "new");
    EXPECT_EQ(perms_of(p), mode) << std::oct << mode;
    EXPECT_EQ(read_all(p), "new");
    ASSERT_EQ(::chmod(p.c_str(), 0644), 0);
  }
  // setuid/setgid are not carried over to new content.
  ASSERT_EQ(::chmod(p.c_str(), 04755), 0);
  write_file_atomic(p.string(), "newer");
  EXPECT_EQ(perms_of(p), 0755u);
  EXPECT_TRUE(temps_in(t.path()).empty());
}

TEST(AtomicFile, RefusesASymlinkToAFile) {
  TempDir t;
  const fs::path real = t.path() / "real.json";
  const fs::path link = t.path() / "link.json";
  write_file_atomic(real.string(), "real content");
  fs::create_symlink(real, link);
  expect_refused(link, "refusing to write: it is a symbolic link (to " + real.string() + "); pass the real path");
  EXPECT_TRUE(fs::is_symlink(link));
  EXPECT_EQ(fs::read_symlink(link), real);
  EXPECT_EQ(read_all(real), "real content");
}

TEST(AtomicFile, RefusesADanglingSymlink) {
  TempDir t;
  const fs::path link = t.path() / "dangling.json";
  fs::create_symlink("nowhere.json", link);
  expect_refused(link, "refusing to write: it is a symbolic link (to nowhere.json); pass the real path");
  EXPECT_TRUE(fs::is_symlink(link));
  EXPECT_FALSE(fs::exists(t.path() / "nowhere.json"));
}

TEST(AtomicFile, RefusesASymlinkToAFolder) {
  TempDir t;
  fs::create_directory(t.path() / "d");
  fs::create_directory_symlink(t.path() / "d", t.path() / "dl");
  expect_refused(t.path() / "dl", "it is a symbolic link");
  EXPECT_TRUE(fs::is_symlink(t.path() / "dl"));
}

TEST(AtomicFile, RefusesAFifoWithoutOpeningIt) {
  TempDir t;
  const fs::path fifo = t.path() / "pipe.json";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
  // Opening the FIFO would block this test forever; only lstat may look at it.
  expect_refused(fifo, "refusing to write: it is a FIFO, not a regular file");
  EXPECT_TRUE(fs::is_fifo(fifo));
}

TEST(AtomicFile, RefusesASocket) {
  TempDir t;
  const fs::path sock = t.path() / "s";
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  ASSERT_LT(sock.string().size(), sizeof(addr.sun_path));
  std::strcpy(addr.sun_path, sock.c_str());
  ASSERT_EQ(::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)), 0) << std::strerror(errno);
  expect_refused(sock, "refusing to write: it is a socket, not a regular file");
  EXPECT_TRUE(fs::is_socket(sock));
  ::close(fd);
}

TEST(AtomicFile, RefusesDevNull) {
  // Only the check: even as root a regression must not get the chance to replace /dev/null.
  const std::string msg = error_of([] { check_writable("/dev/null"); });
  EXPECT_EQ(msg, "/dev/null: refusing to write: it is a character device, not a regular file");
  EXPECT_TRUE(fs::is_character_file("/dev/null"));
}

TEST(AtomicFile, RefusesADeviceNodeAndLeavesIt) {
  // A /dev/null twin of our own, so that write_file_atomic itself can be tried on a device.
  TempDir t;
  const fs::path dev = t.path() / "null_twin";
  if (::mknod(dev.c_str(), S_IFCHR | 0666, makedev(1, 3)) != 0) GTEST_SKIP() << "cannot mknod here (not root)";
  expect_refused(dev, "refusing to write: it is a character device, not a regular file");
  EXPECT_TRUE(fs::is_character_file(dev));
}

TEST(AtomicFile, RefusesAFolder) {
  TempDir t;
  fs::create_directory(t.path() / "d");
  expect_refused(t.path() / "d", "cannot write: it is a folder");
  expect_refused(fs::path(t.path().string() + "/d/"), "cannot write: it is a folder");
  EXPECT_TRUE(fs::is_directory(t.path() / "d"));
}

TEST(AtomicFile, KeepsTheFolderErrors) {
  TempDir t;
  EXPECT_NE(error_of([&] { write_file_atomic((t.path() / "no" / "c.json").string(), "x"); })
                .find("folder " + (t.path() / "no").string() + " does not exist"),
            std::string::npos);
  write_file_atomic((t.path() / "file").string(), "x");
  EXPECT_NE(error_of([&] { check_writable((t.path() / "file" / "c.json").string()); }).find("is not a folder"),
            std::string::npos);
  EXPECT_NE(error_of([] { check_writable(""); }).find("empty"), std::string::npos);
  EXPECT_TRUE(temps_in(t.path()).empty());
}

TEST(AtomicFile, ReadOnlyFolderFailsCleanly) {
  if (::geteuid() == 0) GTEST_SKIP() << "root bypasses folder permissions";
  TempDir t;
  const fs::path ro = t.path() / "ro";
  fs::create_directory(ro);
  write_file_atomic((ro / "c.json").string(), "old");
  ASSERT_EQ(::chmod(ro.c_str(), 0555), 0);
  const std::string msg = error_of([&] { write_file_atomic((ro / "c.json").string(), "new"); });
  ::chmod(ro.c_str(), 0755);
  EXPECT_NE(msg.find("is not writable"), std::string::npos) << msg;
  EXPECT_EQ(read_all(ro / "c.json"), "old");
  EXPECT_TRUE(temps_in(ro).empty());
}

std::vector<std::string> g_seen_temps;
void record_temp(const std::string& p) { g_seen_temps.push_back(p); }

TEST(AtomicFile, TempNamesAreHiddenUniquePerCallAndRemoved) {
  TempDir t;
  const fs::path p = t.path() / "model.onnx";
  g_seen_temps.clear();
  qvit::atomic_file_testing::set_temp_created_hook(record_temp);
  write_file_atomic(p.string(), "a");
  write_file_atomic(p.string(), "b");
  qvit::atomic_file_testing::set_temp_created_hook(nullptr);
  ASSERT_EQ(g_seen_temps.size(), 2u);
  EXPECT_NE(g_seen_temps[0], g_seen_temps[1]);
  const std::string prefix = ".model.onnx.qvit-tmp." + std::to_string(::getpid()) + ".";
  for (const std::string& s : g_seen_temps) {
    EXPECT_EQ(fs::path(s).parent_path(), t.path()) << "same folder, so the rename is atomic: " << s;
    EXPECT_EQ(fs::path(s).filename().string().rfind(prefix, 0), 0u) << s;
    EXPECT_FALSE(fs::exists(s));
  }
  EXPECT_TRUE(temps_in(t.path()).empty());
}

// Runs `child` in a forked process and returns its wait status (killing it after 20 s).
template <class F>
int run_in_child(F&& child, pid_t* pid_out = nullptr) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    child();
    ::_exit(0);
  }
  if (pid_out != nullptr) *pid_out = pid;
  int status = 0;
  for (int i = 0; i < 2000; ++i) {
    if (::waitpid(pid, &status, WNOHANG) == pid) return status;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  ADD_FAILURE() << "child hung";
  return status;
}

TEST(AtomicFile, FailingWriteLeavesNoTempAndKeepsTheOldFile) {
  TempDir t;
  const fs::path p = t.path() / "big.npy";
  write_file_atomic(p.string(), "old");
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  // A file-size limit makes the write fail half way (short write, then EFBIG), even as root.
  const int status = run_in_child([&] {
    ::close(fds[0]);
    ::signal(SIGXFSZ, SIG_IGN);
    rlimit lim{};
    ::getrlimit(RLIMIT_FSIZE, &lim);
    lim.rlim_cur = 4096;
    ::setrlimit(RLIMIT_FSIZE, &lim);
    const std::string msg = error_of([&] { write_file_atomic(p.string(), std::string(1 << 20, 'x')); });
    if (::write(fds[1], msg.data(), msg.size()) < 0) ::_exit(3);
    ::_exit(msg.empty() ? 1 : 0);
  });
  ::close(fds[1]);
  std::string msg;
  char buf[512];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof(buf))) > 0;) msg.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0) << "the write did not fail";
  EXPECT_EQ(msg, p.string() + ": cannot write: File too large");
  EXPECT_EQ(read_all(p), "old");
  EXPECT_TRUE(temps_in(t.path()).empty());
}

// The forked writer reports its temporary's path on this pipe, then waits to be killed.
int g_report_fd = -1;
void report_and_wait(const std::string& temp) {
  const std::string line = temp + "\n";
  if (::write(g_report_fd, line.data(), line.size()) < 0) ::_exit(3);
  for (;;) ::pause();
}

// Forks a writer of `target`, waits until its temporary exists, sends `sig`; returns the wait
// status and the temporary's path.
int kill_writer_in_flight(const fs::path& target, int sig, std::string* temp) {
  int fds[2];
  EXPECT_EQ(::pipe(fds), 0);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    rlimit no_core{0, 0};
    ::setrlimit(RLIMIT_CORE, &no_core);  // SIGQUIT's default action dumps core
    g_report_fd = fds[1];
    qvit::atomic_file_testing::set_temp_created_hook(report_and_wait);
    write_file_atomic(target.string(), std::string(1 << 20, 'x'));
    ::_exit(0);
  }
  ::close(fds[1]);
  temp->clear();
  char c;
  while (::read(fds[0], &c, 1) == 1 && c != '\n') temp->push_back(c);
  ::close(fds[0]);
  EXPECT_TRUE(fs::exists(*temp)) << "the writer's temporary exists before the kill: " << *temp;
  ::kill(pid, sig);
  int status = 0;
  for (int i = 0; i < 2000 && ::waitpid(pid, &status, WNOHANG) != pid; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (::waitpid(pid, &status, WNOHANG) == 0) {  // still running
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    ADD_FAILURE() << "the writer survived signal " << sig;
  }
  return status;
}

TEST(AtomicFile, KilledWriterLeavesNoTemp) {
  for (const int sig : {SIGTERM, SIGINT, SIGHUP, SIGQUIT}) {
    struct sigaction cur {};
    ::sigaction(sig, nullptr, &cur);
    if (!(cur.sa_flags & SA_SIGINFO) && cur.sa_handler == SIG_IGN) {
      // Ignored by whoever started the tests (nohup): write_file_atomic rightly keeps it ignored.
      std::cerr << "signal " << sig << " is ignored here; not tested\n";
      continue;
    }
    TempDir t;
    const fs::path target = t.path() / "c.json";
    std::string temp;
    const int status = kill_writer_in_flight(target, sig, &temp);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == sig) << "still reported as killed by signal " << sig
                                                                << "; status " << status;
    EXPECT_FALSE(fs::exists(temp)) << temp;
    EXPECT_TRUE(temps_in(t.path()).empty()) << "signal " << sig;
    EXPECT_FALSE(fs::exists(target));
  }
}

TEST(AtomicFile, SigkilledWritersTempIsRemovedByTheNextWrite) {
  TempDir t;
  const fs::path target = t.path() / "c.json";
  std::string temp;
  const int status = kill_writer_in_flight(target, SIGKILL, &temp);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  EXPECT_TRUE(fs::exists(temp)) << "SIGKILL cannot be caught";
  write_file_atomic(target.string(), "next run");
  EXPECT_FALSE(fs::exists(temp));
  EXPECT_EQ(read_all(target), "next run");
  EXPECT_TRUE(temps_in(t.path()).empty());
}

TEST(AtomicFile, StaleCleanupOnlyTakesDeadWritersOfTheSameTarget) {
  TempDir t;
  const pid_t dead = [] {
    pid_t pid = 0;
    run_in_child([] {}, &pid);  // reaped: its pid no longer exists
    return pid;
  }();
  const std::string d = std::to_string(dead);
  const auto plant = [&](const std::string& name) {
    std::ofstream(t.path() / name) << "partial";
    return t.path() / name;
  };
  const fs::path stale0 = plant(".out.bin.qvit-tmp." + d + ".0");
  const fs::path stale1 = plant(".out.bin.qvit-tmp." + d + ".17");
  const fs::path alive = plant(".out.bin.qvit-tmp.1.0");  // pid 1 always exists
  const fs::path other_target = plant(".other.bin.qvit-tmp." + d + ".0");
  const fs::path not_ours = plant(".out.bin.qvit-tmp." + d + ".x");
  const fs::path user_file = plant("out.bin.tmp." + d);
  write_file_atomic((t.path() / "out.bin").string(), "fresh");
  EXPECT_FALSE(fs::exists(stale0));
  EXPECT_FALSE(fs::exists(stale1));
  for (const fs::path& kept : {alive, other_target, not_ours, user_file}) EXPECT_TRUE(fs::exists(kept)) << kept;
  EXPECT_EQ(read_all(t.path() / "out.bin"), "fresh");
}

TEST(AtomicFile, ConcurrentWritersFromSeveralThreads) {
  TempDir t;
  const auto file = [&](int i) { return t.path() / std::to_string(i % 4); };
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&, i] {
      for (int k = 0; k < 20; ++k) write_file_atomic(file(i).string(), std::string(1000 + i, char('a' + i)));
    });
  for (auto& th : threads) th.join();
  for (int i = 0; i < 4; ++i) {
    const std::string s = read_all(file(i));
    ASSERT_FALSE(s.empty());
    EXPECT_TRUE(s == std::string(1000 + i, char('a' + i)) || s == std::string(1004 + i, char('e' + i))) << "one whole write";
  }
  EXPECT_TRUE(temps_in(t.path()).empty());
}

}  // namespace
