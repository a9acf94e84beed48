#ifndef H2TUNNEL_CEPOLL_SHIM_H
#define H2TUNNEL_CEPOLL_SHIM_H
/* epoll and accept4, which the Glibc Swift module does not export (floor-proxy-epoll). */
#include <sys/epoll.h>
#include <sys/socket.h>
int accept4(int fd, struct sockaddr *address, socklen_t *length, int flags);
#endif
