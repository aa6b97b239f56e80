#pragma once
// Every file qvit writes (calibration results, ONNX models, .npy tensors, eval JSON) goes through
// write_file_atomic, and commands call check_writable on their output paths before the long work.
//
// Guarantees of write_file_atomic(path, bytes):
//  - All or nothing: the bytes go to a hidden temporary sibling `.<name>.qvit-tmp.<pid>.<n>`
//    (created with O_EXCL, so never through a planted symlink), are written in full, fsync'ed,
//    and renamed over `path`; the folder is then fsync'ed so the rename itself survives a power
//    loss. Readers see the old file or the new one, never a half-written one.
//  - Only regular files are replaced. A target that is a symbolic link (dangling or not), a FIFO,
//    a character or block device, a socket or a folder is refused with a clear Error, decided by
//    lstat alone: the target is never opened (opening a FIFO would block) and never followed.
//    As root, `-o /dev/null` is an error, not a replaced /dev/null.
//  - An existing target keeps its permission bits (rwx for user/group/other; setuid, setgid and
//    sticky are dropped so that new content never inherits them); a new file gets 0666 minus the
//    umask. Ownership is that of the writer. Replacing by rename gives the path a new inode: other
//    hard links to the old file keep the old content (accepted: the alternative, writing in place,
//    would give up the all-or-nothing guarantee).
//  - No temporary file is left behind: every error path removes it (errors name the target and
//    the system's reason, e.g. "No space left on device"); SIGINT, SIGTERM, SIGHUP, SIGQUIT,
//    SIGXCPU and SIGXFSZ remove in-flight temporaries and then kill the process with the signal's
//    default action (the exit status still says "killed by signal"). Handlers are installed on
//    the first write, only for signals still at their default action (a signal the user ignores,
//    as with nohup, stays ignored; a program's own handler is left alone). SIGKILL (and a power
//    cut) cannot be caught: instead each write first removes temporaries of the SAME target whose
//    writer process no longer exists (kill(pid, 0) fails with ESRCH). A pid in another pid
//    namespace or on another host sharing the folder may look dead: such a writer's rename then
//    fails with a clear error rather than producing a wrong file.
//  - Safe to call from several threads at once (the registry the signal handler reads is a fixed
//    array of lock-free atomics; nothing in the handler allocates or locks).
//
// What remains racy by nature: a symlink or device swapped in at `path` between the last lstat
// and the rename would be replaced (rename never follows it, so nothing is written through it).
#include <string>
#include <string_view>

namespace qvit {

void write_file_atomic(const std::string& path, std::string_view bytes);

// Throws a clear Error unless `path` could be written atomically: it is missing or a regular file
// (not a symlink, FIFO, device, socket or folder), and its folder exists and accepts a new file.
// Only lstat/access are used: nothing is opened or created. Commands call it before their long
// work, so a bad `-o` fails in milliseconds, not after the calibration.
void check_writable(const std::string& path);

namespace atomic_file_testing {
// Called (when set) right after write_file_atomic has created and registered its temporary file,
// before any byte is written; tests use it to kill a write in flight. Not for production use.
using TempCreatedHook = void (*)(const std::string& temp_path);
void set_temp_created_hook(TempCreatedHook hook);
}  // namespace atomic_file_testing

}  // namespace qvit
