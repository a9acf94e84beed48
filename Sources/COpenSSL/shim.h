#ifndef H2TUNNEL_COPENSSL_SHIM_H
#define H2TUNNEL_COPENSSL_SHIM_H
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/pem.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/crypto.h>

/* Macros of OpenSSL 3.0 do not import into Swift: these wrappers do. */

static inline long h2t_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int v) { return SSL_CTX_set_min_proto_version(ctx, v); }
static inline long h2t_SSL_CTX_set_mode(SSL_CTX *ctx, long mode) { return SSL_CTX_set_mode(ctx, mode); }
static inline void h2t_SSL_CTX_set_read_ahead(SSL_CTX *ctx, int yes) { SSL_CTX_set_read_ahead(ctx, yes); }
static inline long h2t_SSL_CTX_disable_session_cache(SSL_CTX *ctx) { return SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF); }
static inline long h2t_SSL_set_tlsext_host_name(SSL *ssl, const char *name) { return SSL_set_tlsext_host_name(ssl, name); }
static inline uint64_t h2t_SSL_OP_IGNORE_UNEXPECTED_EOF(void) { return SSL_OP_IGNORE_UNEXPECTED_EOF; }
static inline uint64_t h2t_SSL_OP_NO_RENEGOTIATION(void) { return SSL_OP_NO_RENEGOTIATION; }
static inline uint64_t h2t_SSL_OP_NO_COMPRESSION(void) { return SSL_OP_NO_COMPRESSION; }
static inline uint64_t h2t_SSL_OP_CIPHER_SERVER_PREFERENCE(void) { return SSL_OP_CIPHER_SERVER_PREFERENCE; }
static inline long h2t_SSL_MODE_RELEASE_BUFFERS(void) { return SSL_MODE_RELEASE_BUFFERS; }
static inline long h2t_SSL_MODE_ENABLE_PARTIAL_WRITE(void) { return SSL_MODE_ENABLE_PARTIAL_WRITE; }
static inline void h2t_OPENSSL_free(void *p) { OPENSSL_free(p); }
static inline int h2t_TLS1_2_VERSION(void) { return TLS1_2_VERSION; }
static inline int h2t_SSL_TLSEXT_ERR_OK(void) { return SSL_TLSEXT_ERR_OK; }
static inline int h2t_SSL_TLSEXT_ERR_NOACK(void) { return SSL_TLSEXT_ERR_NOACK; }
static inline int h2t_SSL_TLSEXT_ERR_ALERT_FATAL(void) { return SSL_TLSEXT_ERR_ALERT_FATAL; }

/// Subject alternative names of a certificate, visited one by one (GENERAL_NAMES is a stack macro type).
/// kind: 1 = DNS, 2 = URI. Returns the count of names visited.
static inline int h2t_X509_visit_sans(X509 *cert, void *ctx, void (*visit)(void *ctx, int kind, const unsigned char *bytes, int len)) {
    GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    if (names == NULL) return 0;
    int n = sk_GENERAL_NAME_num(names);
    for (int i = 0; i < n; i++) {
        const GENERAL_NAME *name = sk_GENERAL_NAME_value(names, i);
        if (name->type == GEN_DNS) {
            visit(ctx, 1, ASN1_STRING_get0_data(name->d.dNSName), ASN1_STRING_length(name->d.dNSName));
        } else if (name->type == GEN_URI) {
            visit(ctx, 2, ASN1_STRING_get0_data(name->d.uniformResourceIdentifier), ASN1_STRING_length(name->d.uniformResourceIdentifier));
        }
    }
    GENERAL_NAMES_free(names);
    return n;
}

/// The peer's chain as sent (STACK_OF(X509) accessors are macros).
static inline int h2t_peer_chain_count(const SSL *ssl) {
    STACK_OF(X509) *chain = SSL_get_peer_cert_chain(ssl);
    return chain ? sk_X509_num(chain) : 0;
}
static inline X509 *h2t_peer_chain_at(const SSL *ssl, int i) {
    return sk_X509_value(SSL_get_peer_cert_chain(ssl), i);
}
static inline long h2t_BIO_get_mem_data(BIO *b, char **pp) { return BIO_get_mem_data(b, pp); }
static inline unsigned long h2t_XN_FLAG_RFC2253(void) { return XN_FLAG_RFC2253; }

/* BIO flag macros, for the ByteBuffer-backed BIO. */
static inline void h2t_BIO_set_retry_read(BIO *b) { BIO_set_retry_read(b); }
static inline void h2t_BIO_clear_retry_flags(BIO *b) { BIO_clear_retry_flags(b); }
#endif
