// Error messages built without iostreams. TORCH_CHECK with several arguments formats them through a
// std::ostringstream; on the GPU image (torch 2.11 wheel) the extension bound that constructor to
// an unversioned copy exported by libc10 and a check whose message held a number crashed. Here
// numbers go through std::to_string / snprintf, with the text operator<< would have written.
#pragma once

#include <ATen/ATen.h>

#include <cstdio>
#include <string>
#include <type_traits>

namespace drn {
// Internal linkage, as in checks.h: each translation unit keeps its own copy.
namespace {

inline void append(std::string& out, const char* s) { out += s; }
inline void append(std::string& out, const std::string& s) { out += s; }
inline void append(std::string& out, c10::string_view s) { out.append(s.data(), s.size()); }
inline void append(std::string& out, at::ScalarType t) { out += c10::toString(t); }
inline void append(std::string& out, const at::Device& d) { out += d.str(); }

// A double as operator<< prints it by default (%g: six significant digits, "nan", "inf").
inline void append(std::string& out, double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", v);
  out += buf;
}
inline void append(std::string& out, float v) { append(out, static_cast<double>(v)); }

template <typename I, std::enable_if_t<std::is_integral_v<I> && !std::is_same_v<I, bool> &&
                                           !std::is_same_v<I, char>, int> = 0>
void append(std::string& out, I v) {
  out += std::to_string(v);
}

// A shape as "[2, 3]", like operator<< on IntArrayRef.
inline void append(std::string& out, at::IntArrayRef sizes) {
  out += '[';
  for (size_t i = 0; i < sizes.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(sizes[i]);
  }
  out += ']';
}

template <typename... Args>
std::string message(const Args&... args) {
  std::string out;
  (append(out, args), ...);
  return out;
}

}  // namespace
}  // namespace drn

// TORCH_CHECK* given one std::string: c10 passes it through without a stream.
#define DRN_CHECK(cond, ...) TORCH_CHECK(cond, ::drn::message(__VA_ARGS__))
#define DRN_CHECK_VALUE(cond, ...) TORCH_CHECK_VALUE(cond, ::drn::message(__VA_ARGS__))
#define DRN_CHECK_TYPE(cond, ...) TORCH_CHECK_TYPE(cond, ::drn::message(__VA_ARGS__))
