#ifndef H2TUNNEL_CMALLOC_SHIM_H
#define H2TUNNEL_CMALLOC_SHIM_H
/* glibc's mallopt, which the Glibc Swift module does not export. */
#include <malloc.h>
#endif
