#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "common/result.h"
#include "providers/provider.h"

namespace omnigate::providers {

struct MimeOptions {
  // Used when the message has no From of its own: "Name <addr>" or addr.
  std::string from_default;
  // Right-hand side of the Message-ID; empty: the From address's domain.
  std::string message_id_domain;
  std::chrono::system_clock::time_point date = std::chrono::system_clock::now();
  // Makes the boundary and the generated Message-ID reproducible (tests);
  // empty: random.
  std::string boundary_seed;
  // "local@domain" without brackets; empty: generated.
  std::string message_id;
};

// An RFC 5322 / MIME message with CRLF line endings, ready for SMTP DATA
// (without dot-stuffing: libcurl does that). The error says what was refused,
// e.g. a CR or LF in a header value.
Result<std::string, std::string> BuildMimeMessage(const EmailMessage& m, const MimeOptions& o);

// The bare address of "Name <addr>" or "addr" (surrounding space trimmed).
std::string AddrSpecOf(std::string_view from);

// A fresh "random@domain" for the Message-ID header.
std::string NewMessageId(std::string_view domain, std::string_view seed = {});

// Pieces exposed for tests.
// `header_name` is e.g. "Subject"; returns the whole folded field without the
// final CRLF, using RFC 2047 encoded words when the text needs them.
std::string FoldUnstructuredHeader(std::string_view header_name, std::string_view text);
// Quoted-printable with CRLF hard breaks (any input line ending) and soft
// breaks keeping lines at most 76 characters.
std::string EncodeQuotedPrintable(std::string_view text);
// RFC 5322 date-time in UTC, e.g. "Tue, 05 Mar 2024 14:03:09 +0000".
std::string FormatRfc5322Date(std::chrono::system_clock::time_point t);

}  // namespace omnigate::providers
