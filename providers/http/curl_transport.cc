// libcurl multi_socket driven by an Asio io_context: curl tells us which
// sockets to watch and when its timer is due; Asio waits and calls
// curl_multi_socket_action. Sockets are created by us (opensocket callback) as
// asio tcp::sockets so the reactor knows them; curl closes them through us.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>
#include <unordered_map>

#include "common/text.h"
#include "providers/http/curl_handles.h"
#include "providers/http/http1_client.h"
#include "providers/http/transport.h"

namespace omnigate::http {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using detail::EasyPtr;
using detail::MultiPtr;
using detail::SlistPtr;

namespace detail {
void EnsureCurlGlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}
}  // namespace detail

std::string_view ToString(TransportError e) {
  switch (e) {
    case TransportError::none: return "none";
    case TransportError::timeout: return "timeout";
    case TransportError::connect: return "connect";
    case TransportError::dns: return "dns";
    case TransportError::tls: return "tls";
    case TransportError::too_large: return "too_large";
    case TransportError::destination_not_allowed: return "destination_not_allowed";
    case TransportError::other: return "other";
  }
  return "other";
}

const std::string* Response::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (EqualsIgnoreAsciiCase(k, name)) return &v;
  }
  return nullptr;
}

namespace {

TransportError MapCurlCode(CURLcode c) {
  switch (c) {
    case CURLE_OK: return TransportError::none;
    case CURLE_OPERATION_TIMEDOUT: return TransportError::timeout;
    case CURLE_COULDNT_CONNECT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM: return TransportError::connect;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY: return TransportError::dns;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_USE_SSL_FAILED: return TransportError::tls;
    default: return TransportError::other;
  }
}

}  // namespace

class Transport::Impl {
 public:
  using Clock = std::chrono::steady_clock;
  // One request on the wire. Owned by the Impl from Send until completion.
  struct Transfer {
    Impl* impl = nullptr;
    EasyPtr easy;
    SlistPtr headers;
    SlistPtr rcpt;                  // SMTP only
    std::size_t upload_offset = 0;  // bytes of request.body handed to curl (OnRead)
    Request request;
    Response response;
    Callback done;
    bool too_large = false;
    // An untrusted_destination request was kept from an address (see
    // OnOpenSocket, OnPrereq): whatever curl reports then, this is why.
    bool destination_refused = false;
    bool replay_refused = false;  // OnSeek kept curl from sending the body twice
    // SMTP only: strings curl keeps pointers to, and reply assembly state.
    std::string from_angle;
    std::string smtp_user;
    std::string smtp_password;
    bool smtp_reply_complete = true;
  };

  // One socket curl asked for. Shared with pending waits so that a wait
  // completing after curl closed the socket finds `closed` instead of a
  // dangling pointer.
  struct SocketState {
    explicit SocketState(asio::io_context& io) : socket(io) {}
    tcp::socket socket;
    int want = 0;  // CURL_POLL_IN / OUT / INOUT, 0 after CURL_POLL_REMOVE
    bool reading = false;
    bool writing = false;
    bool closed = false;
  };

  Impl(asio::io_context& io, TransportOptions options)
      : io_(io), options_(std::move(options)), timer_(io) {
    detail::EnsureCurlGlobalInit();
    multi_.reset(curl_multi_init());
    curl_multi_setopt(multi_.get(), CURLMOPT_SOCKETFUNCTION, &Impl::OnSocket);
    curl_multi_setopt(multi_.get(), CURLMOPT_SOCKETDATA, this);
    curl_multi_setopt(multi_.get(), CURLMOPT_TIMERFUNCTION, &Impl::OnTimer);
    curl_multi_setopt(multi_.get(), CURLMOPT_TIMERDATA, this);
    curl_multi_setopt(multi_.get(), CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
    curl_multi_setopt(multi_.get(), CURLMOPT_MAX_HOST_CONNECTIONS,
                      options_.max_connections_per_host);
    curl_multi_setopt(multi_.get(), CURLMOPT_MAX_TOTAL_CONNECTIONS, options_.max_total_connections);
    curl_multi_setopt(multi_.get(), CURLMOPT_MAXCONNECTS, options_.max_total_connections);
  }

  ~Impl() {
    *alive_ = false;
    timer_.cancel();
    // Abort without callbacks: the owner is going away.
    for (auto& [easy, t] : transfers_) curl_multi_remove_handle(multi_.get(), easy);
    transfers_.clear();
    free_.clear();
    multi_.reset();  // closes the pooled connections through OnCloseSocket
    for (auto& [fd, s] : sockets_) {
      s->closed = true;
      boost::system::error_code ignored;
      s->socket.close(ignored);
    }
    sockets_.clear();
  }

  void Send(Request request, Callback done) {
    auto t = std::make_unique<Transfer>();
    t->impl = this;
    t->request = std::move(request);
    t->done = std::move(done);
    if (t->request.url.find('\0') != std::string::npos) {
      // curl takes the URL as a C string: it would send to what comes before.
      Fail(std::move(t), TransportError::other, "URL contains a NUL byte");
      return;
    }
    t->easy = TakeEasy();
    if (!t->easy) {
      Fail(std::move(t), TransportError::other, "curl_easy_init failed");
      return;
    }
    Configure(*t);
    CURL* easy = t->easy.get();
    ++stats_.started;
    if (const CURLMcode rc = curl_multi_add_handle(multi_.get(), easy); rc != CURLM_OK) {
      Fail(std::move(t), TransportError::other, curl_multi_strerror(rc));
      return;
    }
    transfers_.emplace(easy, std::move(t));
  }

  std::size_t in_flight() const { return transfers_.size(); }
  const TransportStats& stats() const { return stats_; }

 private:
  EasyPtr TakeEasy() {
    if (!free_.empty()) {
      EasyPtr e = std::move(free_.back());
      free_.pop_back();
      curl_easy_reset(e.get());
      return e;
    }
    return EasyPtr(curl_easy_init());
  }

  void Configure(Transfer& t) {
    CURL* e = t.easy.get();
    const Request& r = t.request;
    curl_easy_setopt(e, CURLOPT_PRIVATE, &t);
    curl_easy_setopt(e, CURLOPT_URL, r.url.c_str());
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(r.timeout.count()));  // NOLINT
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(r.connect_timeout.count()));  // NOLINT
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, options_.tls_verify ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, options_.tls_verify ? 2L : 0L);
    if (!options_.ca_file.empty()) curl_easy_setopt(e, CURLOPT_CAINFO, options_.ca_file.c_str());
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &Impl::OnBody);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, &Impl::OnOpenSocket);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, &t);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, &Impl::OnCloseSocket);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, this);
    if (r.smtp) {
      ConfigureSmtp(t);
      return;
    }
    // Only what the providers speak: a URL built from request data must not
    // reach file://, gopher:// or dict:// through curl. Redirects are not
    // followed (curl's default, kept explicit): a push service has no reason
    // to send one, and following it would skip the destination check.
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    if (r.untrusted_destination) {
      // OnOpenSocket checks every address curl dials; this checks the
      // connection a request actually gets, which may be a reused one.
      curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, &Impl::OnPrereq);
      curl_easy_setopt(e, CURLOPT_PREREQDATA, &t);
    }
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
                     options_.http2 ? CURL_HTTP_VERSION_2TLS : CURL_HTTP_VERSION_1_1);
    // Waiting for a connection that may multiplex only pays off where HTTP/2
    // can be negotiated (TLS + ALPN); on plain HTTP it would hold requests
    // back until the first response arrives.
    if (options_.http2 && r.url.rfind("https://", 0) == 0) {
      curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
    }
    curl_easy_setopt(e, CURLOPT_USERAGENT, options_.user_agent.c_str());
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &Impl::OnHeader);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, &t);
    curl_slist* list = nullptr;
    for (const auto& h : r.headers) list = curl_slist_append(list, h.c_str());
    // No "Expect: 100-continue" round trip before bodies.
    list = curl_slist_append(list, "Expect:");
    t.headers.reset(list);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, list);
    if (!r.basic_auth.empty()) {
      curl_easy_setopt(e, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
      curl_easy_setopt(e, CURLOPT_USERPWD, r.basic_auth.c_str());
    }
    switch (r.method) {
      case Method::get: curl_easy_setopt(e, CURLOPT_HTTPGET, 1L); break;
      case Method::post:
      case Method::put:
      case Method::del:
        if (r.method == Method::put) curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "PUT");
        if (r.method == Method::del) curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "DELETE");
        if (r.method != Method::del || !r.body.empty()) {
          // Through a read callback rather than POSTFIELDS: curl re-sends a
          // request whose reused connection died before any answer byte
          // ("Connection died, retrying a fresh connect"), after its body
          // was written too, and it must rewind the body to do so. OnSeek
          // refuses that once any of the body was handed over, which turns
          // the silent second copy into a failure the caller sees.
          curl_easy_setopt(e, CURLOPT_POST, 1L);
          curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(r.body.size()));
          curl_easy_setopt(e, CURLOPT_READFUNCTION, &Impl::OnRead);
          curl_easy_setopt(e, CURLOPT_READDATA, &t);
          curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, &Impl::OnSeek);
          curl_easy_setopt(e, CURLOPT_SEEKDATA, &t);
        }
        break;
    }
  }

  // SMTP submission: the handle was reset in TakeEasy, so nothing of an
  // earlier HTTP request (headers, POST fields, HTTP auth) is left on it.
  void ConfigureSmtp(Transfer& t) {
    CURL* e = t.easy.get();
    const Request& r = t.request;
    const SmtpEnvelope& env = *r.smtp;
    t.from_angle = "<" + env.mail_from + ">";
    curl_easy_setopt(e, CURLOPT_MAIL_FROM, t.from_angle.c_str());
    curl_slist* rcpt = nullptr;
    for (const auto& to : env.rcpt_to) rcpt = curl_slist_append(rcpt, ("<" + to + ">").c_str());
    t.rcpt.reset(rcpt);
    curl_easy_setopt(e, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(r.body.size()));
    curl_easy_setopt(e, CURLOPT_READFUNCTION, &Impl::OnRead);
    curl_easy_setopt(e, CURLOPT_READDATA, &t);
    const long use_ssl = env.require_tls ? CURLUSESSL_ALL : CURLUSESSL_NONE;  // NOLINT
    curl_easy_setopt(e, CURLOPT_USE_SSL, use_ssl);
    // Server replies arrive as "header" lines; keep the last one.
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &Impl::OnSmtpReply);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, &t);
    if (!r.basic_auth.empty()) {
      const auto colon = r.basic_auth.find(':');
      t.smtp_user = r.basic_auth.substr(0, colon);
      t.smtp_password = colon == std::string::npos ? "" : r.basic_auth.substr(colon + 1);
      curl_easy_setopt(e, CURLOPT_USERNAME, t.smtp_user.c_str());
      curl_easy_setopt(e, CURLOPT_PASSWORD, t.smtp_password.c_str());
    }
  }

  static std::size_t OnRead(char* buffer, std::size_t size, std::size_t n, void* userp) {
    auto* t = static_cast<Transfer*>(userp);
    const std::string& body = t->request.body;
    const std::size_t len = std::min(size * n, body.size() - t->upload_offset);
    std::copy_n(body.data() + t->upload_offset, len, buffer);
    t->upload_offset += len;
    return len;
  }

  // curl rewinds the body only to send the request again: allowed while none
  // of it has left our hands, refused after (see Configure).
  static int OnSeek(void* userp, curl_off_t offset, int origin) {
    auto* t = static_cast<Transfer*>(userp);
    if (origin == SEEK_SET && offset == 0 && t->upload_offset == 0) return CURL_SEEKFUNC_OK;
    t->replay_refused = true;
    return CURL_SEEKFUNC_FAIL;
  }

  // Multi-line replies ("250-...", then "250 ...") are kept whole; the next
  // reply replaces the previous one, except that the first refusal (4xx/5xx)
  // stays: the QUIT exchange that follows it is not the answer.
  static std::size_t OnSmtpReply(char* data, std::size_t size, std::size_t n, void* userp) {
    auto* t = static_cast<Transfer*>(userp);
    const std::size_t len = size * n;
    std::string& body = t->response.body;
    if (t->smtp_reply_complete) {
      if (!body.empty() && (body[0] == '4' || body[0] == '5')) return len;
      body.clear();
    }
    if (body.size() + len <= t->impl->options_.max_response_bytes) body.append(data, len);
    const std::string_view line(data, len);
    t->smtp_reply_complete = line.size() < 4 || line[3] != '-';
    return len;
  }

  // Completes `t` asynchronously: callbacks never run inside Send.
  void Fail(std::unique_ptr<Transfer> t, TransportError error, std::string message) {
    t->response.error = error;
    t->response.error_message = std::move(message);
    ++stats_.transport_errors;
    asio::post(io_, [alive = std::weak_ptr<bool>(alive_), t = std::shared_ptr<Transfer>(std::move(t))] {
      if (auto a = alive.lock(); a && *a) t->done(std::move(t->response));
    });
  }

  static std::size_t OnBody(char* data, std::size_t size, std::size_t n, void* userp) {
    auto* t = static_cast<Transfer*>(userp);
    const std::size_t len = size * n;
    if (t->response.body.size() + len > t->impl->options_.max_response_bytes) {
      t->too_large = true;
      return 0;  // aborts the transfer with CURLE_WRITE_ERROR
    }
    t->response.body.append(data, len);
    return len;
  }

  static std::size_t OnHeader(char* data, std::size_t size, std::size_t n, void* userp) {
    auto* t = static_cast<Transfer*>(userp);
    const std::size_t len = size * n;
    std::string_view line(data, len);
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
    if (line.rfind("HTTP/", 0) == 0) {
      // A new response (after 100 Continue or a redirect): keep only its headers.
      t->response.headers.clear();
      return len;
    }
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) return len;
    std::string name = AsciiLowercase(line.substr(0, colon));
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    t->response.headers.emplace_back(std::move(name), std::string(value));
    return len;
  }

  static std::optional<boost::asio::ip::address> AddressOf(const curl_sockaddr& addr) {
    if (addr.family == AF_INET && addr.addrlen >= sizeof(sockaddr_in)) {
      const auto* in = reinterpret_cast<const sockaddr_in*>(&addr.addr);  // NOLINT: sockaddr API
      return boost::asio::ip::address_v4(ntohl(in->sin_addr.s_addr));
    }
    if (addr.family == AF_INET6 && addr.addrlen >= sizeof(sockaddr_in6)) {
      const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&addr.addr);  // NOLINT: sockaddr API
      boost::asio::ip::address_v6::bytes_type bytes{};
      std::copy_n(in6->sin6_addr.s6_addr, bytes.size(), bytes.begin());
      return boost::asio::ip::address_v6(bytes);
    }
    return std::nullopt;
  }

  // Called with each address curl is about to dial, after its own
  // resolution: refusing here means no connection is attempted, so a refused
  // destination looks the same whether anything listens there or not. curl
  // goes on to the name's next address, if any.
  static curl_socket_t OnOpenSocket(void* clientp, curlsocktype purpose, curl_sockaddr* addr) {
    auto* t = static_cast<Transfer*>(clientp);
    Impl* self = t->impl;
    if (purpose != CURLSOCKTYPE_IPCXN || (addr->family != AF_INET && addr->family != AF_INET6)) {
      return CURL_SOCKET_BAD;
    }
    if (t->request.untrusted_destination) {
      const auto address = AddressOf(*addr);
      if (!address || !DestinationAllowed(*address, self->options_.destination_allowlist)) {
        t->destination_refused = true;
        return CURL_SOCKET_BAD;
      }
    }
    auto state = std::make_shared<SocketState>(self->io_);
    boost::system::error_code ec;
    state->socket.open(addr->family == AF_INET ? tcp::v4() : tcp::v6(), ec);
    if (ec) return CURL_SOCKET_BAD;
    const curl_socket_t fd = state->socket.native_handle();
    self->sockets_[fd] = std::move(state);
    return fd;
  }

  // Right before the request goes out on its connection, new or reused.
  static int OnPrereq(void* clientp, char* primary_ip, char* /*local_ip*/, int /*primary_port*/,
                      int /*local_port*/) {
    auto* t = static_cast<Transfer*>(clientp);
    boost::system::error_code ec;
    const auto address = boost::asio::ip::make_address(primary_ip, ec);
    if (ec || !DestinationAllowed(address, t->impl->options_.destination_allowlist)) {
      t->destination_refused = true;
      return CURL_PREREQFUNC_ABORT;
    }
    return CURL_PREREQFUNC_OK;
  }

  static int OnCloseSocket(void* clientp, curl_socket_t fd) {
    auto* self = static_cast<Impl*>(clientp);
    auto it = self->sockets_.find(fd);
    if (it == self->sockets_.end()) return ::close(fd);
    it->second->closed = true;
    boost::system::error_code ignored;
    it->second->socket.close(ignored);
    self->sockets_.erase(it);
    return 0;
  }

  static int OnSocket(CURL* /*easy*/, curl_socket_t fd, int what, void* userp, void* /*socketp*/) {
    auto* self = static_cast<Impl*>(userp);
    auto it = self->sockets_.find(fd);
    if (it == self->sockets_.end()) return 0;
    auto& state = it->second;
    state->want = what == CURL_POLL_REMOVE ? 0 : what;
    self->Arm(state);
    return 0;
  }

  // curl moves its timeout on nearly every state change of every transfer.
  // Re-arming the Asio timer each time costs a timerfd_settime syscall, so the
  // wanted deadline is only recorded here; the timer is re-armed when the
  // deadline comes earlier than the armed one, and a timer that fires early
  // re-arms itself once for the later deadline. "Now" (0 ms) goes through
  // post(), which needs no timer at all.
  static int OnTimer(CURLM* /*multi*/, long timeout_ms, void* userp) {  // NOLINT
    auto* self = static_cast<Impl*>(userp);
    if (timeout_ms < 0) {
      self->deadline_.reset();
      return 0;
    }
    const auto due = Clock::now() + std::chrono::milliseconds(timeout_ms);
    self->deadline_ = due;
    // Never call socket_action from inside a curl callback: go through Asio.
    if (timeout_ms == 0) {
      if (!self->immediate_posted_) {
        self->immediate_posted_ = true;
        asio::post(self->io_, [self, alive = std::weak_ptr<bool>(self->alive_)] {
          auto a = alive.lock();
          if (!a || !*a) return;
          self->immediate_posted_ = false;
          self->OnDeadline();
        });
      }
    } else if (!self->timer_armed_ || due < self->armed_for_) {
      self->ArmTimer(due);
    }
    return 0;
  }

  void ArmTimer(Clock::time_point due) {
    timer_armed_ = true;
    armed_for_ = due;
    timer_.expires_at(due);
    timer_.async_wait([this, alive = std::weak_ptr<bool>(alive_)](
                          const boost::system::error_code& ec) {
      auto a = alive.lock();
      // Aborted: re-armed for an earlier deadline; that wait owns the flag now.
      if (ec || !a || !*a) return;
      timer_armed_ = false;
      OnDeadline();
    });
  }

  void OnDeadline() {
    if (!deadline_) return;
    if (*deadline_ > Clock::now()) {
      if (!timer_armed_ || *deadline_ < armed_for_) ArmTimer(*deadline_);
      return;
    }
    deadline_.reset();
    int running = 0;
    curl_multi_socket_action(multi_.get(), CURL_SOCKET_TIMEOUT, 0, &running);
    CheckDone();
  }

  void Arm(const std::shared_ptr<SocketState>& s) {
    if (s->closed) return;
    if ((s->want & CURL_POLL_IN) != 0 && !s->reading) {
      s->reading = true;
      s->socket.async_wait(tcp::socket::wait_read, [this, s, alive = std::weak_ptr<bool>(alive_)](
                                                       const boost::system::error_code& ec) {
        s->reading = false;
        auto a = alive.lock();
        if (ec || !a || !*a || s->closed) return;
        if ((s->want & CURL_POLL_IN) != 0) Act(s, CURL_CSELECT_IN);
        Arm(s);
      });
    }
    if ((s->want & CURL_POLL_OUT) != 0 && !s->writing) {
      s->writing = true;
      s->socket.async_wait(tcp::socket::wait_write, [this, s, alive = std::weak_ptr<bool>(alive_)](
                                                        const boost::system::error_code& ec) {
        s->writing = false;
        auto a = alive.lock();
        if (ec || !a || !*a || s->closed) return;
        if ((s->want & CURL_POLL_OUT) != 0) Act(s, CURL_CSELECT_OUT);
        Arm(s);
      });
    }
  }

  void Act(const std::shared_ptr<SocketState>& s, int select) {
    int running = 0;
    curl_multi_socket_action(multi_.get(), s->socket.native_handle(), select, &running);
    CheckDone();
  }

  void CheckDone() {
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi_.get(), &left)) {
      if (msg->msg != CURLMSG_DONE) continue;
      CURL* easy = msg->easy_handle;
      const CURLcode code = msg->data.result;
      auto it = transfers_.find(easy);
      if (it == transfers_.end()) continue;
      std::unique_ptr<Transfer> t = std::move(it->second);
      transfers_.erase(it);
      curl_multi_remove_handle(multi_.get(), easy);
      Response& r = t->response;
      curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &r.status);
      curl_off_t total_us = 0;
      curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME_T, &total_us);
      r.elapsed = std::chrono::microseconds(total_us);
      if (code != CURLE_OK && t->destination_refused) {
        r.error = TransportError::destination_not_allowed;
        r.error_message = "Destination address not allowed";
        ++stats_.transport_errors;
      } else if (code != CURLE_OK && t->replay_refused) {
        r.error = TransportError::connect;
        r.error_message =
            "Connection closed after the request was sent, before any answer; not re-sent: the "
            "server may have acted on it";
        ++stats_.transport_errors;
      } else if (code != CURLE_OK) {
        r.error = t->too_large ? TransportError::too_large : MapCurlCode(code);
        r.error_message = curl_easy_strerror(code);
        // An SMTP server ends the session by refusing a command (AUTH, MAIL,
        // RCPT, DATA) with 4xx/5xx: curl fails the transfer, but that refusal
        // is the server's answer, not a transport failure.
        if (t->request.smtp && r.status >= 400 && r.error != TransportError::timeout &&
            r.error != TransportError::tls) {
          r.error = TransportError::none;
        } else {
          ++stats_.transport_errors;
        }
      }
      ++stats_.completed;
      // Keep the handle (and its allocations) for the next request.
      if (free_.size() < 64) free_.push_back(std::move(t->easy));
      Callback done = std::move(t->done);
      Response response = std::move(r);
      t.reset();
      done(std::move(response));
    }
  }

  asio::io_context& io_;
  TransportOptions options_;
  MultiPtr multi_;
  asio::steady_timer timer_;
  std::optional<Clock::time_point> deadline_;  // when curl wants its timeout action
  bool timer_armed_ = false;
  Clock::time_point armed_for_;
  bool immediate_posted_ = false;
  std::unordered_map<CURL*, std::unique_ptr<Transfer>> transfers_;
  std::unordered_map<curl_socket_t, std::shared_ptr<SocketState>> sockets_;
  std::vector<EasyPtr> free_;
  TransportStats stats_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

namespace {

// What curl reads from the environment to pick a proxy (it ignores the
// upper-case HTTP_PROXY, as we do).
bool ProxyInEnvironment() {
  for (const char* name : {"http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"}) {
    const char* v = std::getenv(name);  // NOLINT(concurrency-mt-unsafe): read once at start
    if (v != nullptr && *v != '\0') return true;
  }
  return false;
}

}  // namespace

Transport::Transport(asio::io_context& io, TransportOptions options)
    : options_(options), proxied_(ProxyInEnvironment()) {
  if (options_.engine != HttpEngine::curl) {
    h1_ = std::make_unique<detail::Http1Client>(io, options_);
  }
  const long per_pool = std::max(1L, options.connections_per_pool);  // NOLINT(google-runtime-int)
  const long total = std::max(1L, options.max_total_connections);    // NOLINT(google-runtime-int)
  const long per_host = std::max(1L, options.max_connections_per_host);  // NOLINT(google-runtime-int)
  const long pools = (total + per_pool - 1) / per_pool;              // NOLINT(google-runtime-int)
  // Both limits are the transport's, so each pool gets its share of both.
  options.max_total_connections = (total + pools - 1) / pools;
  options.max_connections_per_host =
      std::min(options.max_total_connections, (per_host + pools - 1) / pools);
  for (long i = 0; i < pools; ++i) pools_.push_back(std::make_unique<Impl>(io, options));
}
Transport::~Transport() = default;

// Whether the HTTP/1.1 client should carry it (HttpEngine); the client
// itself turns down URLs it does not speak.
bool Transport::Native(const Request& request) const {
  if (!h1_ || request.smtp) return false;
  if (options_.engine == HttpEngine::native) return true;
  if (proxied_) return false;
  return request.url.rfind("http://", 0) == 0 || !options_.http2;
}

// Through curl: the pool with the fewest requests on the wire, which spreads
// the load so that each pool keeps its own connections busy, and stays within
// its limits.
void Transport::Send(Request request, Callback done) {
  if (Native(request) && h1_->TrySend(request, done)) return;
  Impl* best = pools_.front().get();
  for (const auto& p : pools_) {
    if (p->in_flight() < best->in_flight()) best = p.get();
  }
  best->Send(std::move(request), std::move(done));
}

std::size_t Transport::in_flight() const {
  std::size_t n = h1_ ? h1_->in_flight() : 0;
  for (const auto& p : pools_) n += p->in_flight();
  return n;
}

TransportStats Transport::stats() const {
  TransportStats sum = h1_ ? h1_->stats() : TransportStats{};
  sum.http1_client = sum.started;
  for (const auto& p : pools_) {
    sum.started += p->stats().started;
    sum.completed += p->stats().completed;
    sum.transport_errors += p->stats().transport_errors;
  }
  return sum;
}

}  // namespace omnigate::http
