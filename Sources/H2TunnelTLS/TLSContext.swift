internal import COpenSSL

/// One configured `SSL_CTX`, shared by every connection of that configuration.
///
/// Creating an `SSL_CTX` costs ~0.8 ms, so it is made once; once configured it is
/// read-only and OpenSSL allows sharing it across threads.
public final class TLSContext: @unchecked Sendable {
    let context: OpaquePointer
    let configuration: TLSConfiguration
    /// ALPN list in wire format (RFC 7301 §3.1), kept alive for the select callback.
    private let alpnWire: UnsafeMutableBufferPointer<UInt8>

    public init(_ configuration: TLSConfiguration) throws {
        let method = configuration.role == .server ? TLS_server_method() : TLS_client_method()
        guard let context = SSL_CTX_new(method) else { throw TLSError.fromQueue("SSL_CTX_new") }
        self.context = context
        self.configuration = configuration
        var wire: [UInt8] = []
        for proto in configuration.alpnProtocols {
            wire.append(UInt8(proto.utf8.count))
            wire.append(contentsOf: proto.utf8)
        }
        alpnWire = .allocate(capacity: max(wire.count, 1))
        _ = alpnWire.initialize(from: wire)
        let alpnCount = wire.count

        ERR_clear_error()
        _ = h2t_SSL_CTX_set_min_proto_version(context, h2t_TLS1_2_VERSION())
        _ = SSL_CTX_set_options(context, h2t_SSL_OP_IGNORE_UNEXPECTED_EOF() | h2t_SSL_OP_NO_RENEGOTIATION() | h2t_SSL_OP_NO_COMPRESSION())
        // TLS 1.3 suites, AES-128-GCM first: 10 AES rounds instead of 14 for the same
        // 128-bit security level, on a path where every byte is encrypted twice (the
        // browser's TLS inside the agent connection's). A server applies its own order.
        guard SSL_CTX_set_ciphersuites(context, "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384") == 1 else {
            throw TLSError.fromQueue("SSL_CTX_set_ciphersuites")
        }
        if configuration.role == .server {
            _ = SSL_CTX_set_options(context, h2t_SSL_OP_CIPHER_SERVER_PREFERENCE())
            // TLS 1.3 resumes from stateless tickets; a server-side cache would only keep
            // a session object per handshake (per tunnel, with 10,000 tunnels) around.
            _ = h2t_SSL_CTX_disable_session_cache(context)
        }
        // Idle connections (thousands of them) should not each hold 2 × 16 KiB of record buffers.
        if !configuration.keepsRecordBuffers {
            _ = h2t_SSL_CTX_set_mode(context, h2t_SSL_MODE_RELEASE_BUFFERS())
        }
        // One BIO read takes all the ciphertext there is, instead of a record's 5-byte
        // header and then its body: one read through our BIO (`BufferBIO`) a record fewer,
        // ~650 instructions a request in each of relay and agent (callgrind). What it
        // holds undecrypted `TLSConnection.read` finds by `SSL_has_pending`.
        h2t_SSL_CTX_set_read_ahead(context, 1)

        if let chain = configuration.certificateChainPath {
            guard SSL_CTX_use_certificate_chain_file(context, chain) == 1 else {
                throw TLSError.fromQueue("cannot load certificate \(chain)")
            }
        }
        if let key = configuration.privateKeyPath {
            guard SSL_CTX_use_PrivateKey_file(context, key, SSL_FILETYPE_PEM) == 1 else {
                throw TLSError.fromQueue("cannot load private key \(key)")
            }
            guard SSL_CTX_check_private_key(context) == 1 else {
                throw TLSError.fromQueue("private key \(key) does not match the certificate")
            }
        }
        if let roots = configuration.trustRootsPath {
            guard SSL_CTX_load_verify_locations(context, roots, nil) == 1 else {
                throw TLSError.fromQueue("cannot load CA file \(roots)")
            }
        }
        switch configuration.role {
        case .client:
            if configuration.trustRootsPath == nil { _ = SSL_CTX_set_default_verify_paths(context) }
            SSL_CTX_set_verify(context, configuration.verifyPeer ? SSL_VERIFY_PEER : SSL_VERIFY_NONE,
                               configuration.verifyPeer ? RefusedCertificateNote.callback : nil)
            if configuration.certificateChainPath == nil {
                SSL_CTX_set_client_cert_cb(context, clientCertificateRequestedThunk)
            }
            if alpnCount > 0 {
                guard SSL_CTX_set_alpn_protos(context, alpnWire.baseAddress, UInt32(alpnCount)) == 0 else {
                    throw TLSError.fromQueue("SSL_CTX_set_alpn_protos")
                }
            }
        case .server:
            if configuration.trustRootsPath != nil {
                SSL_CTX_set_verify(context, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, RefusedCertificateNote.callback)
            }
            if alpnCount > 0 {
                SSL_CTX_set_alpn_select_cb(context, alpnSelectThunk, Unmanaged.passUnretained(self).toOpaque())
            }
        }
    }

    deinit {
        SSL_CTX_free(context)
        alpnWire.deallocate()
    }

    /// Server side of ALPN (RFC 7301 §3.2): our preference wins; no overlap is fatal only when required.
    fileprivate func selectALPN(_ out: UnsafeMutablePointer<UnsafePointer<UInt8>?>?,
                                _ outLength: UnsafeMutablePointer<UInt8>?,
                                _ offered: UnsafePointer<UInt8>?, _ offeredLength: UInt32) -> Int32 {
        var selected: UnsafeMutablePointer<UInt8>? = nil
        var selectedLength: UInt8 = 0
        let count = configuration.alpnProtocols.reduce(0) { $0 + 1 + $1.utf8.count }
        let status = SSL_select_next_proto(&selected, &selectedLength, alpnWire.baseAddress, UInt32(count),
                                           offered, offeredLength)
        if status == OPENSSL_NPN_NEGOTIATED, let selected {
            out?.pointee = UnsafePointer(selected)
            outLength?.pointee = selectedLength
            return h2t_SSL_TLSEXT_ERR_OK()
        }
        return configuration.requireALPN ? h2t_SSL_TLSEXT_ERR_ALERT_FATAL() : h2t_SSL_TLSEXT_ERR_NOACK()
    }
}

private func alpnSelectThunk(_ ssl: OpaquePointer?, _ out: UnsafeMutablePointer<UnsafePointer<UInt8>?>?,
                             _ outLength: UnsafeMutablePointer<UInt8>?, _ offered: UnsafePointer<UInt8>?,
                             _ offeredLength: UInt32, _ arg: UnsafeMutableRawPointer?) -> Int32 {
    guard let arg else { return h2t_SSL_TLSEXT_ERR_NOACK() }
    let context = Unmanaged<TLSContext>.fromOpaque(arg).takeUnretainedValue()
    return context.selectALPN(out, outLength, offered, offeredLength)
}

/// Called by OpenSSL when a server asks a client that has no certificate for one: noted
/// (h2probe tells the agent endpoint by it), and answered with no certificate.
private func clientCertificateRequestedThunk(_ ssl: OpaquePointer?, _ x509: UnsafeMutablePointer<OpaquePointer?>?,
                                             _ key: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    if let ssl, let owner = SSL_get_ex_data(ssl, 0) {
        Unmanaged<TLSConnection>.fromOpaque(owner).takeUnretainedValue().peerRequestedCertificate = true
    }
    return 0
}
