// Linked into the test executables of the tsan preset only.
//
// librdkafka (2.0 on Debian 12) makes its threads, mutexes and condition
// variables with the C11 <threads.h> functions. glibc implements those by
// calling its internal pthread functions directly, past the pthread_*
// interceptors, and the ThreadSanitizer runtimes of GCC 12 and clang 14
// intercept none of the C11 ones: librdkafka's threads then have no TSan
// state (the first malloc on one crashes in TSan's allocator) and its locks
// are invisible. These definitions in the executable take precedence over
// glibc's for librdkafka and forward to the intercepted pthread functions, so
// TSan sees those threads and the order their locks give.
#include <pthread.h>
#include <threads.h>

#include <cerrno>
#include <cstdint>
#include <ctime>
#include <new>

namespace {

struct Start {
  thrd_start_t func;
  void* arg;
};

void* Trampoline(void* p) {
  const Start start = *static_cast<Start*>(p);
  delete static_cast<Start*>(p);
  return reinterpret_cast<void*>(static_cast<std::intptr_t>(start.func(start.arg)));
}

int FromErrno(int rc) {
  if (rc == 0) return thrd_success;
  if (rc == ENOMEM || rc == EAGAIN) return thrd_nomem;
  if (rc == ETIMEDOUT) return thrd_timedout;
  if (rc == EBUSY) return thrd_busy;
  return thrd_error;
}

pthread_mutex_t* Mutex(mtx_t* m) { return reinterpret_cast<pthread_mutex_t*>(m); }
pthread_cond_t* Cond(cnd_t* c) { return reinterpret_cast<pthread_cond_t*>(c); }

}  // namespace

extern "C" {

int thrd_create(thrd_t* thr, thrd_start_t func, void* arg) {
  auto* start = new (std::nothrow) Start{func, arg};
  if (start == nullptr) return thrd_nomem;
  const int rc = pthread_create(thr, nullptr, Trampoline, start);
  if (rc != 0) delete start;
  return FromErrno(rc);
}

int thrd_join(thrd_t thr, int* res) {
  void* result = nullptr;
  const int rc = pthread_join(thr, &result);
  if (rc == 0 && res != nullptr) {
    *res = static_cast<int>(reinterpret_cast<std::intptr_t>(result));
  }
  return FromErrno(rc);
}

int thrd_detach(thrd_t thr) { return FromErrno(pthread_detach(thr)); }

int mtx_init(mtx_t* m, int type) {
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  if ((type & mtx_recursive) != 0) pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
  const int rc = pthread_mutex_init(Mutex(m), &attr);
  pthread_mutexattr_destroy(&attr);
  return FromErrno(rc);
}
int mtx_lock(mtx_t* m) { return FromErrno(pthread_mutex_lock(Mutex(m))); }
int mtx_trylock(mtx_t* m) { return FromErrno(pthread_mutex_trylock(Mutex(m))); }
int mtx_timedlock(mtx_t* m, const struct timespec* until) {
  return FromErrno(pthread_mutex_timedlock(Mutex(m), until));
}
int mtx_unlock(mtx_t* m) { return FromErrno(pthread_mutex_unlock(Mutex(m))); }
void mtx_destroy(mtx_t* m) { pthread_mutex_destroy(Mutex(m)); }

int cnd_init(cnd_t* c) { return FromErrno(pthread_cond_init(Cond(c), nullptr)); }
int cnd_signal(cnd_t* c) { return FromErrno(pthread_cond_signal(Cond(c))); }
int cnd_broadcast(cnd_t* c) { return FromErrno(pthread_cond_broadcast(Cond(c))); }
int cnd_wait(cnd_t* c, mtx_t* m) { return FromErrno(pthread_cond_wait(Cond(c), Mutex(m))); }
int cnd_timedwait(cnd_t* c, mtx_t* m, const struct timespec* until) {
  return FromErrno(pthread_cond_timedwait(Cond(c), Mutex(m), until));
}
void cnd_destroy(cnd_t* c) { pthread_cond_destroy(Cond(c)); }

void call_once(once_flag* flag, void (*func)()) {
  pthread_once(reinterpret_cast<pthread_once_t*>(flag), func);
}

}  // extern "C"
