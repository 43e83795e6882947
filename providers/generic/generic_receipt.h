#pragma once
// Delivery receipts of a generic (type: http) provider, read the way its
// config's `receipts:` mapping says (GenericReceiptMapping): a JSON object,
// a JSON array of them, or a form, signed with an HMAC of the raw body in a
// header of the provider's choosing. The mapping is data, so one parser
// serves every aggregator. Stateless functions; any thread.

#include <string_view>

#include "common/result.h"
#include "providers/generic/generic_config.h"
#include "providers/receipt.h"

namespace omnigate::providers {

// The signature of `body` as the mapping wants it in its header: the HMAC of
// the configured algorithm keyed by the secret, lower-case hex or base64.
// What an aggregator computes (the mock provider signs with it).
std::string ComputeGenericReceiptSignature(const GenericReceiptMapping& mapping,
                                           std::string_view body);

// Ok when the mapping takes unsigned receipts (allow_unsigned); else 401 when
// no header or secret is configured, when `signature_header` (the value of
// mapping.signature_header, empty when absent) is empty, or when it is not
// the body's HMAC in the configured encoding (hex digits in either case;
// base64 exactly as encoded, padding included).
Result<Ok, ReceiptError> VerifyGenericReceiptSignature(const GenericReceiptMapping& mapping,
                                                       std::string_view body,
                                                       std::string_view signature_header);

// Parses a webhook body without checking its signature (the caller has):
// one receipt per JSON object (each element of a batch array) or per form.
// 400 naming the element, pointer or field when the body is not the format,
// or a message id or status is missing, empty, or neither a string nor a
// number.
ReceiptResult ParseGenericReceiptBody(const GenericReceiptMapping& mapping, std::string_view body);

// VerifyGenericReceiptSignature, then ParseGenericReceiptBody.
ReceiptResult ParseGenericReceipt(const GenericReceiptMapping& mapping, std::string_view body,
                                  std::string_view signature_header);

}  // namespace omnigate::providers
