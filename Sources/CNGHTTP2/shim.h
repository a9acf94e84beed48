#ifndef H2TUNNEL_CNGHTTP2_SHIM_H
#define H2TUNNEL_CNGHTTP2_SHIM_H
#include <nghttp2/nghttp2.h>

/// nghttp2's version macros do not import into Swift.
static inline int h2t_nghttp2_version_num(void) { return NGHTTP2_VERSION_NUM; }
#endif
