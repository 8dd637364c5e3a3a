// Linux syscalls that Node does not expose: setns, unshare, mount, umount2, and
// creation of a named network namespace without moving the calling thread (see
// DESIGN.md "Data plane" and shared/notes/kernel.md); and what a container engine
// needs for terminals: a unix socket that receives a descriptor (runc's
// --console-socket sends the pty master over SCM_RIGHTS), TIOCSWINSZ, O_NONBLOCK, dup, and
// waitpid for the processes a subreaper inherits; a UDP socket in an SO_REUSEPORT
// group (Node 20's dgram has no reusePort option; it can adopt the fd with bind({ fd }));
// and what an image store needs to write overlayfs whiteouts: mknod (a 0/0 character
// device) and setxattr (trusted.overlay.opaque).
#include <napi.h>

#include <arpa/inet.h>
#include <linux/filter.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <string>

namespace {

// Throws `Error("<what>: <ENAME> (<strerror>)")` with `code` = ENAME and `errno`.
Napi::Value ThrowErrno(Napi::Env env, const std::string& what, int err) {
  const char* name = strerrorname_np(err);
  std::string code = name != nullptr ? name : "E" + std::to_string(err);
  Napi::Error e = Napi::Error::New(env, what + ": " + code + " (" + strerror(err) + ")");
  e.Set("code", Napi::String::New(env, code));
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("syscall", Napi::String::New(env, what));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

bool CheckArgs(const Napi::CallbackInfo& info, size_t n) {
  if (info.Length() < n) {
    Napi::TypeError::New(info.Env(), "expected " + std::to_string(n) + " arguments")
        .ThrowAsJavaScriptException();
    return false;
  }
  return true;
}

// null/undefined -> nullptr, so mount(2) receives NULL for unused arguments.
const char* OptString(const Napi::Value& v, std::string& storage) {
  if (v.IsNull() || v.IsUndefined()) return nullptr;
  storage = v.ToString().Utf8Value();
  return storage.c_str();
}

Napi::Value Setns(const Napi::CallbackInfo& info) {
  if (!CheckArgs(info, 2)) return info.Env().Undefined();
  int fd = info[0].ToNumber().Int32Value();
  int nstype = info[1].ToNumber().Int32Value();
  if (setns(fd, nstype) != 0) return ThrowErrno(info.Env(), "setns", errno);
  return info.Env().Undefined();
}

Napi::Value Unshare(const Napi::CallbackInfo& info) {
  if (!CheckArgs(info, 1)) return info.Env().Undefined();
  if (unshare(info[0].ToNumber().Int32Value()) != 0) return ThrowErrno(info.Env(), "unshare", errno);
  return info.Env().Undefined();
}

Napi::Value Mount(const Napi::CallbackInfo& info) {
  if (!CheckArgs(info, 5)) return info.Env().Undefined();
  std::string source, target, fstype, data;
  const char* s = OptString(info[0], source);
  const char* t = OptString(info[1], target);
  const char* f = OptString(info[2], fstype);
  unsigned long flags = static_cast<unsigned long>(info[3].ToNumber().Int64Value());
  const char* d = OptString(info[4], data);
  if (mount(s, t, f, flags, d) != 0) return ThrowErrno(info.Env(), "mount " + target, errno);
  return info.Env().Undefined();
}

Napi::Value Umount2(const Napi::CallbackInfo& info) {
  if (!CheckArgs(info, 2)) return info.Env().Undefined();
  std::string target = info[0].ToString().Utf8Value();
  if (umount2(target.c_str(), info[1].ToNumber().Int32Value()) != 0)
    return ThrowErrno(info.Env(), "umount2 " + target, errno);
  return info.Env().Undefined();
}

struct CreateNetnsJob {
  std::string path;
  std::string failed;  // which step failed, empty on success
  int err = 0;
};

// Runs on a throwaway thread: namespaces are per task, so unshare(CLONE_NEWNET)
// here moves only this thread; the bind mount keeps the namespace alive after
// the thread exits. The caller's thread never changes namespace.
void* CreateNetnsThread(void* arg) {
  auto* job = static_cast<CreateNetnsJob*>(arg);
  if (unshare(CLONE_NEWNET) != 0) {
    job->err = errno;
    job->failed = "unshare(CLONE_NEWNET)";
    return nullptr;
  }
  char source[64];
  snprintf(source, sizeof source, "/proc/self/task/%ld/ns/net", static_cast<long>(syscall(SYS_gettid)));
  if (mount(source, job->path.c_str(), "none", MS_BIND, nullptr) != 0) {
    job->err = errno;
    job->failed = "mount " + std::string(source) + " " + job->path;
  }
  return nullptr;
}

Napi::Value CreateNetns(const Napi::CallbackInfo& info) {
  if (!CheckArgs(info, 1)) return info.Env().Undefined();
  CreateNetnsJob job;
  job.path = info[0].ToString().Utf8Value();
  pthread_t thread;
  int rc = pthread_create(&thread, nullptr, CreateNetnsThread, &job);
  if (rc != 0) return ThrowErrno(info.Env(), "pthread_create", rc);
  pthread_join(thread, nullptr);
  if (!job.failed.empty()) return ThrowErrno(info.Env(), job.failed, job.err);
  return info.Env().Undefined();
}

// ---- terminals and processes ------------------------------------------------

// listenUnix(path) -> fd: a listening unix stream socket bound at `path`
// (close-on-exec, backlog 1). Equivalent to what `recvtty` of runc's contrib does.
Napi::Value ListenUnix(const Napi::CallbackInfo& info) {
  if (!CheckArgs(info, 1)) return info.Env().Undefined();
  std::string path = info[0].ToString().Utf8Value();
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) return ThrowErrno(info.Env(), "bind " + path, ENAMETOOLONG);
  memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ThrowErrno(info.Env(), "socket", errno);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(fd, 1) != 0) {
    int err = errno;
    close(fd);
    return ThrowErrno(info.Env(), "bind " + path, err);
  }
  return Napi::Number::New(info.Env(), fd);
}

// Milliseconds left until `deadline` (CLOCK_MONOTONIC), at least 0.
int MsLeft(const timespec& deadline) {
  timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  long ms = (deadline.tv_sec - now.tv_sec) * 1000 + (deadline.tv_nsec - now.tv_nsec) / 1000000;
  return ms > 0 ? static_cast<int>(ms) : 0;
}

// poll(2) for POLLIN until the deadline; 0 when readable, else an errno.
int WaitReadable(int fd, const timespec& deadline) {
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    int n = poll(&p, 1, MsLeft(deadline));
    if (n > 0) return 0;
    if (n == 0) return ETIMEDOUT;
    if (errno != EINTR) return errno;
  }
}

// Accepts one connection on a listening socket and receives one descriptor that
// the peer sends with SCM_RIGHTS. Runs on a libuv worker thread: the event loop
// never blocks, and the wait is bounded by the timeout.
class RecvFdWorker : public Napi::AsyncWorker {
 public:
  RecvFdWorker(Napi::Env env, int listenFd, int timeoutMs)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), listenFd_(listenFd), timeoutMs_(timeoutMs) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeoutMs_ / 1000;
    deadline.tv_nsec += static_cast<long>(timeoutMs_ % 1000) * 1000000;
    if (deadline.tv_nsec >= 1000000000) {
      deadline.tv_sec += 1;
      deadline.tv_nsec -= 1000000000;
    }
    what_ = "accept";
    if ((err_ = WaitReadable(listenFd_, deadline)) != 0) return;
    int conn = accept4(listenFd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (conn < 0) {
      err_ = errno;
      return;
    }
    if ((err_ = WaitReadable(conn, deadline)) == 0) {
      char byte[256];
      iovec iov{byte, sizeof byte};
      alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
      msghdr msg{};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      ssize_t n;
      do n = recvmsg(conn, &msg, MSG_CMSG_CLOEXEC);
      while (n < 0 && errno == EINTR);
      cmsghdr* c = n >= 0 ? CMSG_FIRSTHDR(&msg) : nullptr;
      if (n < 0) err_ = errno;
      else if (c == nullptr || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) err_ = ENODATA;
      else memcpy(&fd_, CMSG_DATA(c), sizeof(int));
    }
    what_ = "recvmsg";
    close(conn);
  }

  void OnOK() override {
    if (err_ == 0) return deferred_.Resolve(Napi::Number::New(Env(), fd_));
    const char* name = strerrorname_np(err_);
    Napi::Error e = Napi::Error::New(Env(), what_ + ": " + (name ? name : "?") + " (" + strerror(err_) + ")");
    e.Set("code", Napi::String::New(Env(), name ? name : "EUNKNOWN"));
    e.Set("errno", Napi::Number::New(Env(), err_));
    e.Set("syscall", Napi::String::New(Env(), what_));
    deferred_.Reject(e.Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  int listenFd_;
  int timeoutMs_;
  int fd_ = -1;
  int err_ = 0;
  std::string what_;
};

Napi::Value RecvFd(const Napi::CallbackInfo& info) {
  if (!CheckArgs(info, 2)) return info.Env().Undefined();
  auto* w = new RecvFdWorker(info.Env(), info[0].ToNumber().Int32Value(), info[1].ToNumber().Int32Value());
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

// setWinsize(fd, rows, cols): ioctl(fd, TIOCSWINSZ); the kernel then sends SIGWINCH
// to the terminal's foreground process group. Equivalent to: stty rows R cols C
Napi::Value SetWinsize(const Napi::CallbackInfo& info) {
  if (!CheckArgs(info, 3)) return info.Env().Undefined();
  winsize ws{};
  ws.ws_row = static_cast<unsigned short>(info[1].ToNumber().Uint32Value());
  ws.ws_col = static_cast<unsigned short>(info[2].ToNumber().Uint32Value());
  if (ioctl(info[0].ToNumber().Int32Value(), TIOCSWINSZ, &ws) != 0) return ThrowErrno(info.Env(), "ioctl(TIOCSWINSZ)", errno);
  return info.Env().Undefined();
}

// setNonBlocking(fd): O_NONBLOCK on the open file (shared by every fd for it).
Napi::Value SetNonBlocking(const Napi::CallbackInfo& info) {
  if (!CheckArgs(info, 1)) return info.Env().Undefined();
  int fd = info[0].ToNumber().Int32Value();
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) return ThrowErrno(info.Env(), "fcntl(O_NONBLOCK)", errno);
  return info.Env().Undefined();
}

// dup(fd) -> a new close-on-exec descriptor for the same open file.
Napi::Value Dup(const Napi::CallbackInfo& info) {
  if (!CheckArgs(info, 1)) return info.Env().Undefined();
  int fd = fcntl(info[0].ToNumber().Int32Value(), F_DUPFD_CLOEXEC, 0);
  if (fd < 0) return ThrowErrno(info.Env(), "dup", errno);
  return Napi::Number::New(info.Env(), fd);
}

// prctl(PR_SET_CHILD_SUBREAPER, 1): orphaned descendants become our children.
Napi::Value SetChildSubreaper(const Napi::CallbackInfo& info) {
  if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) return ThrowErrno(info.Env(), "prctl(PR_SET_CHILD_SUBREAPER)", errno);
  return info.Env().Undefined();
}

// reap(pid) -> exit code (128+N when killed by signal N), or null while it runs.
// waitpid(pid, WNOHANG): never blocks. Throws ECHILD when pid is not our child.
Napi::Value Reap(const Napi::CallbackInfo& info) {
  if (!CheckArgs(info, 1)) return info.Env().Undefined();
  int status = 0;
  pid_t r;
  do r = waitpid(info[0].ToNumber().Int32Value(), &status, WNOHANG);
  while (r < 0 && errno == EINTR);
  if (r < 0) return ThrowErrno(info.Env(), "waitpid", errno);
  if (r == 0) return info.Env().Null();
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return Napi::Number::New(info.Env(), code);
}

// socket(AF_INET, SOCK_DGRAM) with SO_REUSEPORT, bound to address:port in the calling
// thread's network namespace; non-blocking, close-on-exec. With spread > 1, a classic
// BPF program (SO_ATTACH_REUSEPORT_CBPF, shared by the whole group) sends each datagram
// to socket (random % spread) of the group, instead of the kernel's default hash of
// the 4-tuple, which would put every query of one client socket on one socket.
Napi::Value BindUdpReusePort(const Napi::CallbackInfo& info) {
  if (!CheckArgs(info, 3)) return info.Env().Undefined();
  std::string address = info[0].ToString().Utf8Value();
  int port = info[1].ToNumber().Int32Value();
  uint32_t spread = info[2].ToNumber().Uint32Value();
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  if (port < 0 || port > 65535 || inet_pton(AF_INET, address.c_str(), &sa.sin_addr) != 1) {
    return ThrowErrno(info.Env(), "bind " + address + ":" + std::to_string(port), EINVAL);
  }
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return ThrowErrno(info.Env(), "socket", errno);
  int one = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    int err = errno;
    close(fd);
    return ThrowErrno(info.Env(), "setsockopt SO_REUSEPORT", err);
  }
  if (bind(fd, reinterpret_cast<struct sockaddr*>(&sa), sizeof sa) != 0) {
    int err = errno;
    close(fd);
    return ThrowErrno(info.Env(), "bind " + address + ":" + std::to_string(port), err);
  }
  if (spread > 1) {
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, static_cast<uint32_t>(SKF_AD_OFF + SKF_AD_RANDOM)),
        BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, spread),
        BPF_STMT(BPF_RET | BPF_A, 0),
    };
    struct sock_fprog prog = {static_cast<unsigned short>(sizeof code / sizeof code[0]), code};
    if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof prog) != 0) {
      int err = errno;
      close(fd);
      return ThrowErrno(info.Env(), "setsockopt SO_ATTACH_REUSEPORT_CBPF", err);
    }
  }
  return Napi::Number::New(info.Env(), fd);
}

// mknod(path, mode, makedev(major, minor)).
Napi::Value Mknod(const Napi::CallbackInfo& info) {
  if (!CheckArgs(info, 4)) return info.Env().Undefined();
  std::string path = info[0].ToString().Utf8Value();
  mode_t mode = static_cast<mode_t>(info[1].ToNumber().Uint32Value());
  dev_t dev = makedev(info[2].ToNumber().Uint32Value(), info[3].ToNumber().Uint32Value());
  if (mknod(path.c_str(), mode, dev) != 0) return ThrowErrno(info.Env(), "mknod", errno);
  return info.Env().Undefined();
}

// lsetxattr(path, name, value, len, 0): never follows a symlink at path.
Napi::Value Lsetxattr(const Napi::CallbackInfo& info) {
  if (!CheckArgs(info, 3)) return info.Env().Undefined();
  std::string path = info[0].ToString().Utf8Value();
  std::string name = info[1].ToString().Utf8Value();
  std::string value = info[2].ToString().Utf8Value();
  if (lsetxattr(path.c_str(), name.c_str(), value.data(), value.size(), 0) != 0) return ThrowErrno(info.Env(), "lsetxattr", errno);
  return info.Env().Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("setns", Napi::Function::New(env, Setns));
  exports.Set("unshare", Napi::Function::New(env, Unshare));
  exports.Set("mount", Napi::Function::New(env, Mount));
  exports.Set("umount2", Napi::Function::New(env, Umount2));
  exports.Set("createNetns", Napi::Function::New(env, CreateNetns));
  exports.Set("listenUnix", Napi::Function::New(env, ListenUnix));
  exports.Set("recvFd", Napi::Function::New(env, RecvFd));
  exports.Set("setWinsize", Napi::Function::New(env, SetWinsize));
  exports.Set("setNonBlocking", Napi::Function::New(env, SetNonBlocking));
  exports.Set("dup", Napi::Function::New(env, Dup));
  exports.Set("setChildSubreaper", Napi::Function::New(env, SetChildSubreaper));
  exports.Set("reap", Napi::Function::New(env, Reap));
  exports.Set("bindUdpReusePort", Napi::Function::New(env, BindUdpReusePort));
  exports.Set("mknod", Napi::Function::New(env, Mknod));
  exports.Set("lsetxattr", Napi::Function::New(env, Lsetxattr));
  return exports;
}

}  // namespace

NODE_API_MODULE(vxnet_native, Init)
