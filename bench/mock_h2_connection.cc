#include "bench/mock_h2_connection.h"

#include <nghttp2/nghttp2.h>
#include <sys/types.h>

#include <algorithm>
#include <array>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <charconv>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace omnigate::bench::detail {
namespace {

namespace asio = boost::asio;
using boost::system::error_code;

std::string_view View(const std::uint8_t* p, std::size_t n) {
  return {reinterpret_cast<const char*>(p), n};
}

nghttp2_nv Nv(std::string_view name, std::string_view value) {
  // nghttp2 copies both (no NO_COPY flag), so views into temporaries are fine.
  return {const_cast<std::uint8_t*>(reinterpret_cast<const std::uint8_t*>(name.data())),
          const_cast<std::uint8_t*>(reinterpret_cast<const std::uint8_t*>(value.data())),
          name.size(), value.size(), NGHTTP2_NV_FLAG_NONE};
}

// One request/response exchange on the connection.
struct H2Stream {
  std::string method;
  std::string path;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  MockProvider::Reply reply;
  std::size_t body_sent = 0;
  std::unique_ptr<asio::steady_timer> timer;  // only for delayed answers
};

class H2Connection : public std::enable_shared_from_this<H2Connection> {
 public:
  H2Connection(MockProvider& owner, TlsStream stream, std::uint64_t seed)
      : owner_(owner), stream_(std::move(stream)), rng_(seed) {}

  ~H2Connection() {
    if (session_ != nullptr) nghttp2_session_del(session_);
  }
  H2Connection(const H2Connection&) = delete;
  H2Connection& operator=(const H2Connection&) = delete;

  void Start() {
    nghttp2_session_callbacks* cb = nullptr;
    if (nghttp2_session_callbacks_new(&cb) != 0) return;
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, &OnBeginHeaders);
    nghttp2_session_callbacks_set_on_header_callback(cb, &OnHeader);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, &OnData);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, &OnFrame);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, &OnStreamClose);
    const int rv = nghttp2_session_server_new(&session_, cb, this);
    nghttp2_session_callbacks_del(cb);
    if (rv != 0) return;
    // As many streams as a client would open; a window large enough that a
    // request body never waits for a WINDOW_UPDATE.
    const nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 1000},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20},
    };
    nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, std::size(settings));
    Flush();
    Read();
  }

 private:
  static H2Connection& Self(void* user_data) { return *static_cast<H2Connection*>(user_data); }

  static H2Stream* StreamOf(nghttp2_session* session, std::int32_t id) {
    return static_cast<H2Stream*>(nghttp2_session_get_stream_user_data(session, id));
  }

  static int OnBeginHeaders(nghttp2_session* session, const nghttp2_frame* frame, void* user_data) {
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    auto& stream = Self(user_data).streams_[frame->hd.stream_id];
    stream = std::make_unique<H2Stream>();
    nghttp2_session_set_stream_user_data(session, frame->hd.stream_id, stream.get());
    return 0;
  }

  static int OnHeader(nghttp2_session* session, const nghttp2_frame* frame,
                      const std::uint8_t* name, std::size_t namelen, const std::uint8_t* value,
                      std::size_t valuelen, std::uint8_t /*flags*/, void* /*user_data*/) {
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    H2Stream* s = StreamOf(session, frame->hd.stream_id);
    if (s == nullptr) return 0;
    const std::string_view n = View(name, namelen);
    const std::string_view v = View(value, valuelen);
    if (n == ":method") {
      s->method = v;
    } else if (n == ":path") {
      s->path = v;
    } else if (n == ":authority") {
      s->headers.emplace_back("host", v);
    } else if (!n.starts_with(':')) {
      s->headers.emplace_back(n, v);
    }
    return 0;
  }

  static int OnData(nghttp2_session* session, std::uint8_t /*flags*/, std::int32_t stream_id,
                    const std::uint8_t* data, std::size_t len, void* /*user_data*/) {
    if (H2Stream* s = StreamOf(session, stream_id)) s->body.append(View(data, len));
    return 0;
  }

  static int OnFrame(nghttp2_session* session, const nghttp2_frame* frame, void* user_data) {
    const bool request_end =
        (frame->hd.type == NGHTTP2_DATA || frame->hd.type == NGHTTP2_HEADERS) &&
        (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    if (!request_end) return 0;
    if (H2Stream* s = StreamOf(session, frame->hd.stream_id)) {
      Self(user_data).Dispatch(frame->hd.stream_id, *s);
    }
    return 0;
  }

  static int OnStreamClose(nghttp2_session* /*session*/, std::int32_t stream_id,
                           std::uint32_t /*error_code*/, void* user_data) {
    // A pending timer dies with its stream; its handler finds the id gone.
    Self(user_data).streams_.erase(stream_id);
    return 0;
  }

  static ssize_t ReadBody(nghttp2_session* /*session*/, std::int32_t /*stream_id*/,
                          std::uint8_t* buf, std::size_t length, std::uint32_t* data_flags,
                          nghttp2_data_source* source, void* /*user_data*/) {
    auto& s = *static_cast<H2Stream*>(source->ptr);
    const std::string& body = s.reply.body;
    const std::size_t n = std::min(length, body.size() - s.body_sent);
    std::memcpy(buf, body.data() + s.body_sent, n);
    s.body_sent += n;
    if (s.body_sent == body.size()) *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(n);
  }

  // Runs inside nghttp2_session_mem_recv; the caller flushes afterwards.
  void Dispatch(std::int32_t id, H2Stream& s) {
    std::vector<MockProvider::Header> headers;
    headers.reserve(s.headers.size());
    for (const auto& [name, value] : s.headers) headers.push_back({name, value});
    MockProvider::Request request;
    request.method = s.method;
    request.target = s.path;
    request.headers = headers;
    request.body = s.body;
    s.reply = owner_.Handle(request, NextRandom(rng_));
    if (s.reply.delay.count() <= 0) {
      Submit(id, s);
      return;
    }
    s.timer = std::make_unique<asio::steady_timer>(stream_.get_executor());
    s.timer->expires_after(s.reply.delay);
    s.timer->async_wait([self = shared_from_this(), id](const error_code& ec) {
      if (ec || self->closed_) return;
      const auto it = self->streams_.find(id);
      if (it == self->streams_.end()) return;  // reset by the client meanwhile
      self->Submit(id, *it->second);
      self->Flush();
    });
  }

  void Submit(std::int32_t id, H2Stream& s) {
    const MockProvider::Reply& reply = s.reply;
    char status[8];
    const auto status_end = std::to_chars(status, status + sizeof status, reply.status).ptr;
    char length[24];
    const auto length_end = std::to_chars(length, length + sizeof length, reply.body.size()).ptr;
    std::vector<nghttp2_nv> nv;
    std::vector<std::string> lowered;  // HTTP/2 header names are lower case
    nv.reserve(8);
    nv.push_back(Nv(":status", std::string_view(status, status_end)));
    if (!reply.content_type.empty()) nv.push_back(Nv("content-type", reply.content_type));
    nv.push_back(Nv("content-length", std::string_view(length, length_end)));
    std::string_view extra = reply.extra_headers;  // "Name: value\r\n" lines
    while (!extra.empty()) {
      const auto eol = std::min(extra.find("\r\n"), extra.size());
      const std::string_view line = extra.substr(0, eol);
      extra.remove_prefix(std::min(extra.size(), eol + 2));
      const auto colon = line.find(':');
      if (colon == std::string_view::npos) continue;
      std::string name(line.substr(0, colon));
      std::transform(name.begin(), name.end(), name.begin(),
                     [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; });
      std::string_view value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
      lowered.push_back(std::move(name));
      nv.push_back(Nv(lowered.back(), value));
    }
    // `lowered` may have reallocated: point the names at their final places.
    for (std::size_t i = 0; i < lowered.size(); ++i) {
      nghttp2_nv& entry = nv[nv.size() - lowered.size() + i];
      entry.name = reinterpret_cast<std::uint8_t*>(lowered[i].data());
    }
    nghttp2_data_provider body{};
    body.source.ptr = &s;
    body.read_callback = &ReadBody;
    nghttp2_submit_response(session_, id, nv.data(), nv.size(),
                            reply.body.empty() ? nullptr : &body);
  }

  void Read() {
    stream_.async_read_some(
        asio::buffer(in_), [self = shared_from_this()](const error_code& ec, std::size_t n) {
          if (ec) {
            self->Close();
            return;
          }
          const auto rv = nghttp2_session_mem_recv(
              self->session_, reinterpret_cast<const std::uint8_t*>(self->in_.data()), n);
          if (rv < 0) {
            self->Close();
            return;
          }
          self->Flush();
          if (!self->closed_) self->Read();
        });
  }

  // Writes whatever the session has queued; one write outstanding at a time.
  void Flush() {
    if (writing_ || closed_) return;
    out_.clear();
    while (out_.size() < 64 * 1024) {
      const std::uint8_t* data = nullptr;
      const auto n = nghttp2_session_mem_send(session_, &data);
      if (n < 0) {
        Close();
        return;
      }
      if (n == 0) break;
      out_.append(View(data, static_cast<std::size_t>(n)));
    }
    if (out_.empty()) {
      if (nghttp2_session_want_read(session_) == 0 && nghttp2_session_want_write(session_) == 0) {
        Close();
      }
      return;
    }
    writing_ = true;
    asio::async_write(stream_, asio::buffer(out_),
                      [self = shared_from_this()](const error_code& ec, std::size_t) {
                        self->writing_ = false;
                        if (ec) {
                          self->Close();
                          return;
                        }
                        self->Flush();
                      });
  }

  void Close() {
    if (closed_) return;
    closed_ = true;
    error_code ignored;
    stream_.lowest_layer().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    for (auto& [id, s] : streams_) {
      if (s->timer) s->timer->cancel();
    }
  }

  MockProvider& owner_;
  TlsStream stream_;
  std::uint64_t rng_;
  nghttp2_session* session_ = nullptr;
  std::unordered_map<std::int32_t, std::unique_ptr<H2Stream>> streams_;
  std::array<char, 16384> in_{};
  std::string out_;
  bool writing_ = false;
  bool closed_ = false;
};

}  // namespace

void ServeH2(MockProvider& owner, TlsStream stream, std::uint64_t seed) {
  std::make_shared<H2Connection>(owner, std::move(stream), seed)->Start();
}

}  // namespace omnigate::bench::detail
