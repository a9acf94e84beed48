#ifndef H2TUNNEL_CNGHTTP2_SHIM_H
#define H2TUNNEL_CNGHTTP2_SHIM_H
#include <nghttp2/nghttp2.h>

/// nghttp2's version macros do not import into Swift.
static inline int h2t_nghttp2_version_num(void) { return NGHTTP2_VERSION_NUM; }

/// nghttp2's Rapid Reset limit (CVE-2023-44487) came in 1.57; Debian backports it to its
/// 1.52, upstream 1.52 lacks it, and the version number cannot tell the two apart. So the
/// symbol is weak: null where the library has no such limit. Returns 1 if it was set.
extern void nghttp2_option_set_stream_reset_rate_limit(nghttp2_option *option, uint64_t burst,
                                                       uint64_t rate) __attribute__((weak));
static inline int h2t_set_stream_reset_rate_limit(nghttp2_option *option, uint64_t burst, uint64_t rate) {
    if (!nghttp2_option_set_stream_reset_rate_limit) return 0;
    nghttp2_option_set_stream_reset_rate_limit(option, burst, rate);
    return 1;
}
#endif
