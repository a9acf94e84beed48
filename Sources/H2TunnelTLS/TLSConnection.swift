internal import COpenSSL
import NIOCore

/// One TLS session driven through in-memory buffers: ciphertext in, plaintext out, and back.
///
/// It does no I/O and knows no channel, so the same engine serves a NIO handler
/// (`TLSHandler`) and a tunnel stream at the agent, where the "socket" is an HTTP/2 stream.
/// Not thread-safe: one connection belongs to one event loop (OpenSSL's error queue is per thread).
/// `@unchecked Sendable` only so it can be handed to the loop that owns it.
public final class TLSConnection: @unchecked Sendable {
    public enum HandshakeResult { case incomplete, complete, failed(TLSError) }
    public enum ReadResult { case data(ByteBuffer), wantMore, closed, failed(TLSError) }

    let ssl: OpaquePointer
    private let buffers: BufferBIOState
    public let context: TLSContext
    public private(set) var isHandshakeComplete = false
    /// Client role: the server sent a CertificateRequest (it wants mTLS).
    public internal(set) var peerRequestedCertificate = false
    private var sentCloseNotify = false
    /// The close_notify or failure a `read` met after decrypting data: it returned the
    /// data, and the next call reports this (both often arrive in one segment).
    private var heldOutcome: ReadResult?
    /// Server role: hold the TLS 1.3 session tickets (see `sendTicketsWithFirstWrite`).
    private var holdsTickets = false
    /// The tickets, in a buffer of their own size, until other output can take them along.
    private var heldTickets: ByteBuffer?

    /// For a client, `serverName` is sent as SNI and verified against the certificate.
    public init(context: TLSContext, serverName: String? = nil, allocator: ByteBufferAllocator = ByteBufferAllocator()) throws {
        guard let ssl = SSL_new(context.context) else { throw TLSError.fromQueue("SSL_new") }
        let buffers = BufferBIOState(allocator: allocator)
        guard let bio = BufferBIO.make(state: buffers) else {
            SSL_free(ssl)
            throw TLSError.fromQueue("BIO_new")
        }
        SSL_set_bio(ssl, bio, bio)   // one BIO both ways; the SSL owns it from here on
        self.ssl = ssl
        self.buffers = buffers
        self.context = context
        switch context.configuration.role {
        case .client:
            SSL_set_connect_state(ssl)
            _ = SSL_set_ex_data(ssl, 0, Unmanaged.passUnretained(self).toOpaque())
            if let serverName {
                // SNI alone verifies nothing: SSL_set1_host makes the chain check include the name.
                guard h2t_SSL_set_tlsext_host_name(ssl, serverName) == 1, SSL_set1_host(ssl, serverName) == 1 else {
                    throw TLSError.fromQueue("cannot set server name \(serverName)")
                }
            }
        case .server:
            SSL_set_accept_state(ssl)
        }
    }

    deinit { SSL_free(ssl) }

    /// Server role: TLS 1.3 session tickets (RFC 8446 §4.6.1) leave with the next output
    /// (the first application data) rather than on their own right after the client's Finished. A
    /// tunnel then carries one flight, not two, to the browser: one record on the agent
    /// connection and one wake-up of the relay and the browser fewer per connection. A
    /// connection that never answers never sends them, and the browser only loses
    /// resumption. TLS 1.2 sends its ticket in the handshake and is not affected.
    /// They are the bytes the handshake's last step wrote, copied out of the 16 KiB output
    /// buffer so an idle connection holds ~500 bytes, not the buffer. (Asking OpenSSL for the
    /// tickets later, with `SSL_new_session_ticket`, costs 16 KiB more per connection.)
    public func sendTicketsWithFirstWrite() { holdsTickets = true }

    /// Ciphertext from the peer; kept by reference, not copied.
    public func feed(_ buffer: ByteBuffer) {
        guard buffer.readableBytes > 0 else { return }
        buffers.input.append(buffer)
        buffers.inputBytes += buffer.readableBytes
    }

    /// The peer's byte stream ended (TCP FIN or END_STREAM).
    public func feedEOF() { buffers.inputEnded = true }

    public func handshake() -> HandshakeResult {
        if isHandshakeComplete { return .complete }
        ERR_clear_error()
        let outputBefore = buffers.output?.readableBytes ?? 0
        let rc = SSL_do_handshake(ssl)
        if rc == 1 {
            isHandshakeComplete = true
            // TLS 1.3 only: a TLS 1.2 server's last flight is its Finished, which must go.
            if holdsTickets, outputBefore == 0, SSL_version(ssl) == TLS1_3_VERSION, let tickets = buffers.output {
                heldTickets = buffers.allocator.buffer(capacity: tickets.readableBytes)
                heldTickets!.writeImmutableBuffer(tickets)
                buffers.output = nil
            }
            holdsTickets = false
            return .complete
        }
        let error = SSL_get_error(ssl, rc)
        if error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE { return .incomplete }
        return .failed(TLSError.fromQueue(verifyFailure() ?? "TLS handshake failed"))
    }

    /// Decrypts what has arrived, up to `limit` bytes in one buffer.
    public func read(allocator: ByteBufferAllocator, limit: Int = 64 * 1024) -> ReadResult {
        if let held = heldOutcome {
            heldOutcome = nil
            return held
        }
        // Plaintext is never larger than the ciphertext waiting (plus a record OpenSSL
        // already holds): size the buffer to it rather than to the limit.
        let waiting = buffers.inputBytes + Int(SSL_pending(ssl))
        // OpenSSL reads ahead: a record it read but has not decrypted yet is in neither count.
        guard waiting > 0 || !isHandshakeComplete || buffers.inputEnded || SSL_has_pending(ssl) != 0 else { return .wantMore }
        var buffer = allocator.buffer(capacity: min(limit, max(waiting, 1024)))
        var outcome: ReadResult? = nil
        // Once per call, not per record: a successful SSL_read queues no error, and the
        // loop ends at the first failure.
        clearErrorQueue()
        while buffer.readableBytes < limit {
            var got = 0
            let room = limit - buffer.readableBytes
            let rc = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 1) { space -> Int in
                SSL_read_ex(ssl, space.baseAddress, min(space.count, room), &got) == 1 ? got : 0
            }
            if rc > 0 {
                // Nothing left to decrypt: one more SSL_read_ex would only answer WANT_READ,
                // at ~2,500 instructions a read (callgrind). At EOF it must still be asked,
                // to tell a close_notify from a cut connection.
                if buffers.inputBytes == 0, !buffers.inputEnded, SSL_has_pending(ssl) == 0 {
                    outcome = .wantMore
                    break
                }
                continue
            }
            let error = SSL_get_error(ssl, 0)
            switch error {
            case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE: outcome = .wantMore
            case SSL_ERROR_ZERO_RETURN: outcome = .closed
            default: outcome = .failed(TLSError.fromQueue("TLS read failed"))
            }
            break
        }
        guard buffer.readableBytes > 0 else { return outcome ?? .wantMore }
        switch outcome {
        case .closed, .failed: heldOutcome = outcome
        default: break
        }
        return .data(buffer)
    }

    /// Encrypts all of `buffer` into the output BIO (it grows as needed, so never refuses).
    public func write(_ buffer: ByteBuffer) throws {
        // Each record of up to 16 KiB adds a 5-byte header, a content-type byte and a
        // 16-byte tag (RFC 8446 §5.2).
        if buffers.output == nil, let tickets = heldTickets {
            // The records below are appended behind the tickets, not copied behind them later.
            heldTickets = nil
            buffers.output = tickets
        }
        buffers.reserve(buffer.readableBytes + (buffer.readableBytes / 16384 + 1) * 22)
        try buffer.withUnsafeReadableBytes { bytes in
            var offset = 0
            clearErrorQueue()
            while offset < bytes.count {
                var written = 0
                guard SSL_write_ex(ssl, bytes.baseAddress! + offset, bytes.count - offset, &written) == 1 else {
                    throw TLSError.fromQueue("TLS write failed")
                }
                offset += written
            }
        }
    }

    /// Empties this thread's OpenSSL error queue, which `SSL_get_error` and
    /// `TLSError.fromQueue` read, before a read or a write. It is empty on nearly every
    /// call, so it is looked at first: clearing walks all 16 slots, ~840 instructions a
    /// call (callgrind), twice per request in each of relay and agent.
    private func clearErrorQueue() {
        if ERR_peek_error() != 0 { ERR_clear_error() }
    }

    /// Sends close_notify once (RFC 8446 §6.1); the read side stays open.
    public func shutdown() {
        guard !sentCloseNotify, isHandshakeComplete else { return }
        sentCloseNotify = true
        ERR_clear_error()
        _ = SSL_shutdown(ssl)
        ERR_clear_error()
    }

    /// Ciphertext to send, if any. Call after every other call, failed ones too (alerts).
    /// Held tickets wait while there is nothing else, and go first when there is: records
    /// must leave in the order they were sealed. (`write` puts them in front itself;
    /// this is for other output, such as an alert or a close_notify.)
    public func takeOutput() -> ByteBuffer? {
        guard var output = buffers.output else { return nil }
        buffers.output = nil
        guard var tickets = heldTickets else { return output }
        heldTickets = nil
        tickets.writeBuffer(&output)
        return tickets
    }

    public var negotiatedALPN: String? {
        var data: UnsafePointer<UInt8>? = nil
        var length: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &data, &length)
        guard let data, length > 0 else { return nil }
        return String(decoding: UnsafeBufferPointer(start: data, count: Int(length)), as: UTF8.self)
    }

    public var protocolVersion: String { String(cString: SSL_get_version(ssl)) }

    /// The verified peer certificate's names, or nil when the peer sent none.
    public var peerCertificate: CertificateNames? {
        guard let certificate = SSL_get0_peer_certificate(ssl) else { return nil }
        return CertificateNames(certificate)
    }

    private func verifyFailure() -> String? {
        let note = RefusedCertificateNote.take()
        let result = SSL_get_verify_result(ssl)
        guard result != X509_V_OK else { return nil }
        return "certificate verify failed: " + String(cString: X509_verify_cert_error_string(result))
            + (note.map { " (\($0))" } ?? "")
    }
}
