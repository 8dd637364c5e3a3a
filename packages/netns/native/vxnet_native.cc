// Linux namespace syscalls that Node does not expose: setns, unshare, mount,
// umount2, and creation of a named network namespace without moving the calling
// thread (see DESIGN.md "Data plane" and shared/notes/kernel.md).
#include <napi.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
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

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("setns", Napi::Function::New(env, Setns));
  exports.Set("unshare", Napi::Function::New(env, Unshare));
  exports.Set("mount", Napi::Function::New(env, Mount));
  exports.Set("umount2", Napi::Function::New(env, Umount2));
  exports.Set("createNetns", Napi::Function::New(env, CreateNetns));
  return exports;
}

}  // namespace

NODE_API_MODULE(vxnet_native, Init)
